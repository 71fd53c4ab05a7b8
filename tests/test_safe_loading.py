"""A checkpoint or data file never runs code: every reader refuses a crafted pickle in one line.

Each entry point that reads a checkpoint or a VideoPose3D ``.npz`` is given a file whose pickle
would, if loaded the unsafe way, write a marker file (``exec`` through ``__reduce__``). The test
asserts the marker is never written, the exit status is 2 and the error is one line naming the
file and what it would have needed. Files written the old ways — PyTorch's pre-1.6 pickle format,
numpy 1.x names, an original VideoPose3D ``.bin`` with its pickled ``RandomState`` and without
BatchNorm counters — still load.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, lifter_run_args
from poseact.cli import main
from poseact.errors import CheckpointError, ConversionError, KeypointFileError

DEMO = str(REPO / "configs/experiment/demo.yaml")


class Payload:
    """Unpickled the unsafe way, writes ``marker``: the stand-in for a remote-code payload."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('the payload ran')",))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


def _evil_checkpoint(path: Path, marker: Path, base: Path | None = None, legacy: bool = False) -> Path:
    """A checkpoint (a real one from ``base`` when given) with the payload in its hyper-parameters."""
    raw = torch.load(base, weights_only=True) if base is not None else {"state_dict": {}}
    raw.setdefault("hyper_parameters", {})["note"] = Payload(marker)
    torch.save(raw, path, _use_new_zipfile_serialization=not legacy)
    return path


def _evil_npz(path: Path, marker: Path, key: str = "positions_2d") -> Path:
    other = "metadata" if key == "positions_2d" else "positions_2d"
    np.savez(path, **{key: {"S1": {"Walking 1": Payload(marker)}}}, **{other: {"num_joints": 17}})
    return path


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _one_line_refusal(code: int, err: str, marker: Path, *names: str) -> str:
    assert not marker.exists(), "the payload ran"
    lines = [x for x in err.splitlines() if ": error:" in x]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, (code, err[-3000:])
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# -- every entry point ---------------------------------------------------------------------------

ENTRY_POINTS = ["test", "predict", "render", "fit checkpoint=", "fit init_checkpoint=", "export", "infer --checkpoint",
                "detect --keypoint-checkpoint", "infer --keypoint-checkpoint"]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip format", "pre-1.6 format"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_crafted_checkpoint_runs_no_code_anywhere(entry, legacy, tmp_path, marker, session_store, lifter_run,
                                                    capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = _evil_checkpoint(tmp_path / "evil.ckpt", marker, lifter_run / "checkpoints/last.ckpt", legacy)
    run = lifter_run_args(session_store, tmp_path / "run")
    keypoints = tmp_path / "k.json"
    keypoints.write_text('{"width": 100, "height": 100, "frames": [[[[1, 2, 1]]]]}')
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(images / "0001.png")
    argv = {
        "test": ["test", *run, f"checkpoint={evil}"],
        "predict": ["predict", *run, f"checkpoint={evil}", "--out", str(tmp_path / "p.npz")],
        "render": ["render", *run, f"checkpoint={evil}", "--subject", "S9", "--take", "Walking 1",
                   "--camera", "54138969", "--out", str(tmp_path / "r.mp4")],
        "fit checkpoint=": ["fit", *run, f"checkpoint={evil}"],
        "fit init_checkpoint=": ["fit", *run, f"init_checkpoint={evil}"],
        "export": ["export", str(evil), str(tmp_path / "out.bin")],
        "infer --checkpoint": ["infer", str(keypoints), "--checkpoint", str(evil), "--out", str(tmp_path / "o")],
        "detect --keypoint-checkpoint": ["detect", str(images), "--keypoint-checkpoint", str(evil),
                                         "--out", str(tmp_path / "k2.json")],
        "infer --keypoint-checkpoint": ["infer", str(images), "--checkpoint", str(lifter_run / "checkpoints/last.ckpt"),
                                        "--keypoint-checkpoint", str(evil), "--out", str(tmp_path / "o")],
    }[entry]
    capsys.readouterr()
    code = main(argv)
    _one_line_refusal(code, capsys.readouterr().err, marker, "evil.ckpt", "refused", "builtins.exec")
    assert not list(tmp_path.glob("out.bin*")) and not (tmp_path / "p.npz").exists()


def test_a_planted_last_checkpoint_is_not_resumed(tmp_path, marker, session_store, lifter_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(lifter_run, run)
    _evil_checkpoint(run / "checkpoints/last.ckpt", marker, lifter_run / "checkpoints/last.ckpt")
    before = sorted(p.name for p in run.rglob("*"))
    code = main(["fit", *lifter_run_args(session_store, run)])
    _one_line_refusal(code, capsys.readouterr().err, marker, "checkpoint to resume from", "last.ckpt", "refused")
    assert sorted(p.name for p in run.rglob("*")) == before


def test_lightnings_own_resume_reads_safely(tmp_path, marker, lifter_run):
    """The checkpoint IO Lightning resumes through (``trainer.fit(ckpt_path=...)``) is the safe reader."""
    from poseact.run.checkpoints import atomic_checkpoint_io

    io_ = atomic_checkpoint_io()
    good = io_.load_checkpoint(lifter_run / "checkpoints/last.ckpt")
    assert good["hyper_parameters"]["family"] == "lifting" and "state_dict" in good
    with pytest.raises(CheckpointError, match="refused.*builtins.exec"):
        io_.load_checkpoint(_evil_checkpoint(tmp_path / "evil.ckpt", marker))
    assert not marker.exists()


def test_the_python_api_refuses_a_crafted_checkpoint(tmp_path, marker):
    import poseact

    with pytest.raises(CheckpointError, match="refused"):
        poseact.load_lifter(_evil_checkpoint(tmp_path / "evil.bin", marker, legacy=True))
    assert not marker.exists()


def test_a_crafted_npz_keypoint_file_runs_no_code(tmp_path, marker, lifter_run, capsys):
    evil = _evil_npz(tmp_path / "data_2d_custom_evil.npz", marker)
    code = main(["infer", str(evil), "--checkpoint", str(lifter_run / "checkpoints/last.ckpt"),
                 "--out", str(tmp_path / "o")])
    _one_line_refusal(code, capsys.readouterr().err, marker, "data_2d_custom_evil.npz", "positions_2d", "builtins.exec")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("script,argv", [
    ("prepare_custom", lambda evil, other: ["--data-2d", str(evil)]),
    ("prepare_h36m", lambda evil, other: ["--data-3d", str(other), "--data-2d", str(evil)]),
    ("prepare_h36m", lambda evil, other: ["--data-3d", str(evil), "--data-2d", str(other)]),
    ("prepare_humaneva", lambda evil, other: ["--data-3d", str(other), "--data-2d", str(evil)]),
], ids=["prepare_custom", "prepare_h36m 2-D", "prepare_h36m 3-D", "prepare_humaneva"])
def test_a_crafted_npz_runs_no_code_in_the_converters(script, argv, tmp_path, marker, capsys):
    is_3d = "--data-3d" == argv("E", "O")[0] and argv("E", "O")[1] == "E"
    evil = _evil_npz(tmp_path / "evil.npz", marker, "positions_3d" if is_3d else "positions_2d")
    other = tmp_path / "other.npz"
    np.savez(other, positions_3d={"S1": {"Walking 1": np.zeros((5, 32, 3), np.float32)}},
             positions_2d={"S1": {"Walking 1": [np.zeros((5, 17, 2), np.float32)] * 4}},
             metadata={"num_joints": 17})
    out = tmp_path / "out" / "s.h5"
    try:
        code = _script(script)([*argv(evil, other), "--out", str(out)])
    except SystemExit as e:
        code = int(e.code)
    _one_line_refusal(code, capsys.readouterr().err, marker, "evil.npz", "refused", "builtins.exec")
    assert not out.exists()


# -- what the readers admit ----------------------------------------------------------------------

def test_every_kind_of_poseact_checkpoint_loads_under_the_allow_list(lifter_run, multitask_run, tmp_path):
    from poseact.lifting.checkpoint import read_lifter_checkpoint, save_videopose3d_checkpoint
    from poseact.multitask.checkpoint import build_spnet, read_multitask_checkpoint
    from poseact.run.checkpoints import load_checkpoint_file

    for ckpt in [*lifter_run.glob("checkpoints/*.ckpt"), *multitask_run.glob("checkpoints/*.ckpt")]:
        raw = load_checkpoint_file(ckpt)
        assert "state_dict" in raw and isinstance(raw["hyper_parameters"]["model"], dict), ckpt
    lifter = read_lifter_checkpoint(lifter_run / "checkpoints/last.ckpt")
    pose, _ = lifter.build()
    bin_path = save_videopose3d_checkpoint(tmp_path / "x.bin", pose)
    assert read_lifter_checkpoint(bin_path).format == "videopose3d"
    net, layout = build_spnet(read_multitask_checkpoint(multitask_run / "checkpoints/last.ckpt"))
    assert layout in ("h36m17", "mpii16")


def _as_numpy1_pickle(data: bytes) -> bytes:
    """Rename numpy 2's pickled globals to the names numpy 1.x wrote (protocol 2 GLOBAL opcodes)."""
    return (data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
            .replace(b"ctest_safe_loading\n_old_random_state_ctor\n", b"cnumpy.random\n__RandomState_ctor\n"))


def _old_random_state_ctor():  # renamed to numpy.random.__RandomState_ctor in the pickled bytes
    raise AssertionError("never called")


class _Numpy1RandomState:
    """Pickles like a numpy 1.x RandomState: ``__RandomState_ctor()`` then its state tuple."""

    def __reduce__(self):
        return (_old_random_state_ctor, (), np.random.RandomState(1234).get_state())


def test_an_original_pytorch04_videopose3d_file_loads(tmp_path):
    """Written the old way: the pre-1.6 pickle format, numpy 1.x names, a pickled RandomState,
    no BatchNorm counters; the network it rebuilds computes what the original does."""
    import sys

    from poseact.lifting.checkpoint import read_lifter_checkpoint
    from poseact.lifting.models.temporal import TemporalLifter

    torch.manual_seed(0)
    original = TemporalLifter(17, 2, 17, [3, 3, 3], channels=16).eval()
    state = {k: v for k, v in original.state_dict().items() if not k.endswith("num_batches_tracked")}
    opt = torch.optim.Adam(original.parameters(), amsgrad=True)
    payload = {"epoch": 80, "lr": 1.7e-5, "random_state": _Numpy1RandomState(), "optimizer": opt.state_dict(),
               "model_pos": state, "model_traj": None, "random_state_semi": _Numpy1RandomState()}
    sys.modules.setdefault("test_safe_loading", sys.modules[__name__])
    buf = io.BytesIO()
    torch.save(payload, buf, _use_new_zipfile_serialization=False)
    old = _as_numpy1_pickle(buf.getvalue())
    assert b"cnumpy.random\n__RandomState_ctor\n" in old and b"cnumpy.core.multiarray\n_reconstruct\n" in old
    path = tmp_path / "pretrained_h36m_like.bin"
    path.write_bytes(old)
    ckpt = read_lifter_checkpoint(path)
    assert (ckpt.format, ckpt.epoch, ckpt.lr) == ("videopose3d", 80, 1.7e-5)
    pose, traj = ckpt.build()
    x = torch.randn(1, 27, 17, 2)
    assert traj is None and torch.equal(pose(x), original(x))


def test_a_tar_format_checkpoint_is_refused_in_one_line(tmp_path):
    from poseact.run.checkpoints import load_checkpoint_file

    path = tmp_path / "ancient.bin"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("storages")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"\x80\x02K\x00"))
    with pytest.raises(CheckpointError, match="pre-0.4 .tar format"):
        load_checkpoint_file(path)


def test_refusals_name_what_the_file_needs(tmp_path):
    """A checkpoint holding a class (here OmegaConf's, as hyper-parameters once could) is refused by name."""
    from omegaconf import OmegaConf

    from poseact.run.checkpoints import load_checkpoint_file

    path = tmp_path / "omegaconf.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": OmegaConf.create({"a": 1})}, path)
    with pytest.raises(CheckpointError, match=r"omegaconf.ckpt.*refused.*omegaconf\."):
        load_checkpoint_file(path)


def _rewrite_npz_member(path: Path, key: str, transform) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[f"{key}.npy"] = transform(members[f"{key}.npy"])
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def test_videopose3d_npz_files_load_with_the_restricted_reader(tmp_path):
    """Nested dicts of arrays, lists and scalars load, also under numpy 1.x's pickled names."""
    from poseact.convert.npz import load_npz_dict
    from poseact.safe_load import load_npz_objects

    rng = np.random.default_rng(0)
    views = [rng.normal(size=(5, 17, 2)).astype(np.float32) for _ in range(4)]
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6], [1, 2, 3]],
            "video_metadata": {"a.mp4": {"w": np.int64(1920), "h": 1080.0}}, "flags": (True, None, b"x")}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S1": {"Walking 1": views}}, metadata=meta, plain=np.arange(4))
    _rewrite_npz_member(path, "metadata", lambda b: b.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    got = load_npz_dict(path, "positions_2d")["S1"]["Walking 1"]
    assert all(np.array_equal(a, b) for a, b in zip(got, views))
    assert load_npz_dict(path, "metadata") == meta
    assert np.array_equal(load_npz_objects(path, ["plain"])["plain"], np.arange(4))


def test_an_npz_member_that_needs_a_class_is_refused(tmp_path, marker):
    from poseact.convert.npz import load_npz_dict

    path = tmp_path / "odd.npz"
    np.savez(path, positions_3d={"S1": {"Walking 1": Path("/x")}})
    with pytest.raises(ConversionError, match=r"odd.npz.*positions_3d.*refused.*pathlib"):
        load_npz_dict(path, "positions_3d")
    with pytest.raises(ConversionError, match="refused"):
        load_npz_dict(_evil_npz(tmp_path / "evil.npz", marker, "positions_3d"), "positions_3d")
    from poseact.infer.formats import read_keypoints

    with pytest.raises(KeypointFileError, match="refused"):
        read_keypoints(_evil_npz(tmp_path / "evil2.npz", marker))
    assert not marker.exists()


def test_the_plain_data_unpickler_admits_no_callable():
    from poseact.safe_load import loads_plain

    assert loads_plain(pickle.dumps({"a": [1, (2.5, "x")], "b": np.float32(3)})) == {"a": [1, (2.5, "x")], "b": 3}
    for obj in (print, Path, np.save, np.random.RandomState(0), torch.ones(1)):
        with pytest.raises(pickle.UnpicklingError):
            loads_plain(pickle.dumps(obj))
