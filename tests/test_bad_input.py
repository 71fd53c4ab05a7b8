"""Every bad input gets one clear line, and nothing is left half-written.

Each case runs a real command (``poseact ...`` or a ``data_prep/`` script, in-process) on one bad
input and asserts: exit status 2; exactly one error line, ``<prog>: error: ...``, naming the thing at
fault; no traceback; and the output location it names unchanged (no new, partial or overwritten
file). The cases cover configs, values, checkpoints, output locations, command-line numbers,
resumes, corrupt stores and converters, sweeps.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, lifter_run_args
from poseact.cli import main

DEMO = str(REPO / "configs/experiment/demo.yaml")
MT_TINY = str(REPO / "configs/experiment/multitask_tiny.yaml")


@dataclass
class World:
    """What the cases work on: scratch space and real artefacts of the session."""

    tmp: Path
    store: Path  # a valid projected store
    lifter: Path  # a lifter run folder
    multitask: Path  # a multi-task run folder
    mt_cache: Path

    def fit(self, *extra: str, out: str = "run") -> list[str]:
        return ["fit", *lifter_run_args(self.store, self.tmp / out, *extra)]

    def file(self, name: str, data: bytes = b"junk") -> Path:
        p = self.tmp / name
        p.write_bytes(data)
        return p

    def torch_file(self, name: str, obj) -> Path:
        p = self.tmp / name
        torch.save(obj, p)
        return p

    def copied_store(self, name: str) -> Path:
        return Path(shutil.copy(self.store, self.tmp / name))


@dataclass
class Case:
    """``args(world)`` → (program, argv, the output location to watch); ``expect``: fragments of the
    error line."""

    name: str
    args: Callable[[World], tuple[str, list[str], Path]]
    expect: tuple[str, ...]


def _poseact(argv_of, watch="run"):
    return lambda w: ("poseact", argv_of(w), w.tmp / watch)


def _prepare(script: str, argv_of, watch="out"):
    return lambda w: (script, argv_of(w), w.tmp / watch)


def _zeroed_block(w: World, checksums: bool) -> Path:
    """A store with 4 MiB of zeros written into the middle of its keypoints."""
    import h5py

    path = w.copied_store("zeroed.h5")
    with h5py.File(path, "r+") as f:
        if not checksums:  # as a store written before checksums existed
            for ds in f["frames"].values():
                ds.attrs.pop("crc32", None)
        kp = f["frames/keypoints"]
        kp[100:140] = 0.0
    return path


def _collapsed_bone(w: World) -> Path:
    """A labeled frame whose left knee sits exactly on its left hip."""
    import h5py

    path = w.copied_store("collapsed.h5")
    with h5py.File(path, "r+") as f:
        p = f["frames/pose3d"]
        frame = p[10]
        frame[5] = frame[4]
        p[10] = frame
        del p.attrs["crc32"]
    return path


def _truncated(w: World) -> Path:
    data = w.store.read_bytes()
    return w.file("truncated.h5", data[: len(data) // 2])


def _sweep_yaml(w: World, **extra) -> Path:
    import yaml

    doc = {"name": "bad", "method": "grid", "metric": {"name": "val/p1", "goal": "minimize"},
           "parameters": {"optim.lr": {"values": [0.001]}},
           "command": ["${env}", "${interpreter}", "-m", "poseact", "fit", DEMO, f"data.store={w.store}",
                       "${args_no_hyphens}"]}
    doc.update(extra)
    p = w.tmp / "sweep.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _h36m_17_joint_files(w: World) -> list[str]:
    from poseact.geometry import h36m_cameras

    rng = np.random.default_rng(0)
    world17 = {"S1": {"Walking 1": rng.normal(size=(20, 17, 3)).astype(np.float32)}}
    d3 = w.tmp / "data_3d_h36m.npz"
    np.savez_compressed(d3, positions_3d=world17)
    d2 = w.tmp / "data_2d_h36m_gt.npz"
    views = [rng.uniform(0, 1000, (20, 17, 2)).astype(np.float32) for _ in h36m_cameras()["S1"]]
    np.savez_compressed(d2, positions_2d={"S1": {"Walking 1": views}}, metadata={"num_joints": 17})
    return ["--data-3d", str(d3), "--data-2d", str(d2), "--out", str(w.tmp / "out/h36m.h5")]


CASES = [
    # -- configs and values ------------------------------------------------------------------------
    Case("unknown key", _poseact(lambda w: w.fit("model.chanels=8")), ("model.chanels",)),
    Case("BatchNorm momentum 5", _poseact(lambda w: w.fit("optim.bn_momentum_start=5")),
         ("optim.bn_momentum_start", "5")),
    Case("validation every 0 epochs", _poseact(lambda w: w.fit("eval.validate_every_n_epochs=0")),
         ("eval.validate_every_n_epochs",)),
    Case("infinite lr", _poseact(lambda w: w.fit("optim.lr=inf")), ("optim.lr", "inf")),
    Case("NaN dropout", _poseact(lambda w: w.fit("model.dropout=nan")), ("model.dropout",)),
    Case("unknown accelerator", _poseact(lambda w: w.fit("trainer.accelerator=tpuu")), ("trainer.accelerator", "tpuu")),
    Case("zero devices", _poseact(lambda w: w.fit("trainer.devices=0")), ("trainer.devices",)),
    Case("unknown precision", _poseact(lambda w: w.fit("trainer.precision=17")), ("trainer.precision",)),
    Case("no training batches", _poseact(lambda w: w.fit("trainer.limit_train_batches=0")),
         ("trainer.limit_train_batches",)),
    Case("fractional batch count", _poseact(lambda w: w.fit("trainer.limit_val_batches=2.5")),
         ("trainer.limit_val_batches",)),
    Case("negative workers", _poseact(lambda w: w.fit("data.num_workers=-1")), ("data.num_workers",)),
    Case("negative synthetic noise", _poseact(lambda w: w.fit("data.synthetic.noise_px=-1")),
         ("data.synthetic.noise_px",)),
    Case("negative seed", _poseact(lambda w: w.fit("seed=-3")), ("seed",)),
    Case("zero batch", _poseact(lambda w: w.fit("data.batch_frames=0")), ("data.batch_frames",)),
    Case("multitask zero lr", _poseact(lambda w: ["fit", MT_TINY, "optim.lr=0", f"output_dir={w.tmp / 'run'}"]),
         ("optim.lr",)),
    Case("multitask camera 7", _poseact(lambda w: ["fit", MT_TINY, "data.render_cameras=[7]",
                                                   f"output_dir={w.tmp / 'run'}"]), ("data.render_cameras",)),
    Case("override without =", _poseact(lambda w: ["fit", DEMO, "model.channels"]), ("key=value",)),
    Case("unknown family", _poseact(lambda w: ["fit", DEMO, "task=dance"]), ("task 'dance' is unknown",)),
    Case("config file missing", _poseact(lambda w: ["fit", str(w.tmp / "nope.yaml")]), ("nope.yaml", "not found")),
    Case("config not YAML", _poseact(lambda w: ["fit", str(w.file("bad.yaml", b"model: [unclosed\n"))]),
         ("bad.yaml", "not valid YAML")),
    Case("store missing", _poseact(lambda w: w.fit(f"data.store={w.tmp / 'gone.h5'}")), ("gone.h5", "not found")),
    Case("subject not in store", _poseact(lambda w: w.fit("data.subjects_train=[S77]")), ("S77", "not in store")),
    # -- checkpoints -------------------------------------------------------------------------------
    Case("random-bytes .ckpt", _poseact(lambda w: ["test", *lifter_run_args(w.store, w.tmp / "run"),
                                                  f"checkpoint={w.file('noise.ckpt', os.urandom(4096))}"]),
         ("noise.ckpt", "unreadable")),
    Case("garbage .bin", _poseact(lambda w: ["test", *lifter_run_args(w.store, w.tmp / "run"),
                                            f"checkpoint={w.file('junk.bin')}"]), ("junk.bin", "unreadable")),
    Case("a pickle, not a checkpoint", _poseact(lambda w: ["test", *lifter_run_args(w.store, w.tmp / "run"),
                                                          f"checkpoint={w.torch_file('dict.pt', {'a': 1})}"]),
         ("dict.pt", "not a poseact or VideoPose3D checkpoint")),
    Case("checkpoint missing", _poseact(lambda w: ["test", *lifter_run_args(w.store, w.tmp / "run"),
                                                  f"checkpoint={w.tmp / 'none.ckpt'}"]), ("none.ckpt", "not found")),
    Case("checkpoint is a folder", _poseact(lambda w: ["test", *lifter_run_args(w.store, w.tmp / "run"),
                                                      f"checkpoint={w.tmp}"]), ("is a folder",)),
    Case("multitask checkpoint to a lifter", _poseact(lambda w: [
        "test", *lifter_run_args(w.store, w.tmp / "run"), f"checkpoint={w.multitask / 'checkpoints/last.ckpt'}"]),
        ("is a multitask checkpoint, not a lifting one",)),
    Case("lifter checkpoint to the multi-task model", _poseact(lambda w: [
        "test", MT_TINY, f"checkpoint={w.lifter / 'checkpoints/last.ckpt'}", f"output_dir={w.tmp / 'run'}",
        f"data.synthetic.cache_dir={w.mt_cache}"]), ("is a lifting checkpoint, not a multitask one",)),
    Case("export of garbage", _poseact(lambda w: ["export", str(w.file("junk.ckpt")), str(w.tmp / "run/o.bin")]),
         ("junk.ckpt", "unreadable")),
    Case("export of a multitask model", _poseact(lambda w: [
        "export", str(w.multitask / "checkpoints/last.ckpt"), str(w.tmp / "run/o.bin")]), ("multitask", "no export")),
    Case("infer with garbage checkpoint", _poseact(lambda w: [
        "infer", str(w.file("k.json", b'{"frames": []}')), "--checkpoint", str(w.file("junk.ckpt")),
        "--out", str(w.tmp / "run")]), ("junk.ckpt", "unreadable")),
    Case("detect with garbage keypoint checkpoint", _poseact(lambda w: [
        "detect", str(w.tmp), "--keypoint-checkpoint", str(w.file("junk.ckpt")), "--out",
        str(w.tmp / "run/k.json")]), ("junk.ckpt", "unreadable")),
    Case("render with garbage checkpoint", _poseact(lambda w: [
        "render", *lifter_run_args(w.store, w.tmp / "x"), f"checkpoint={w.file('junk.ckpt')}", "--subject", "S9",
        "--take", "Walking 1", "--camera", "54138969", "--out", str(w.tmp / "run/r.mp4")]),
        ("junk.ckpt", "unreadable")),
    # -- resuming ----------------------------------------------------------------------------------
    Case("resume from a corrupt last.ckpt", lambda w: _resume_case(w, corrupt=True),
         ("checkpoint to resume from", "unreadable")),
    Case("resume with another width", lambda w: _resume_case(w, corrupt=False),
         ("holds a run of another model", "channels=8", "channels=64", "resume=false")),
    # -- output locations --------------------------------------------------------------------------
    Case("output_dir under a file", _poseact(lambda w: w.fit(f"output_dir={w.file('plain')}/run"), watch="."),
         ("plain", "is a file")),
    Case("output_dir is a file", _poseact(lambda w: w.fit(f"output_dir={w.file('plainrun')}"), watch="."),
         ("plainrun", "is a file")),
    Case("predict into a folder", _poseact(lambda w: [
        "predict", *lifter_run_args(w.store, w.lifter), "--out", str(w.tmp)]), ("is a folder",)),
    Case("export into a folder", _poseact(lambda w: ["export", str(w.lifter / "checkpoints/last.ckpt"), str(w.tmp)]),
         ("is a folder",)),
    Case("infer --out is a file", _poseact(lambda w: [
        "infer", str(w.file("k.json", b'{"frames": []}')), "--checkpoint", str(w.lifter / "checkpoints/last.ckpt"),
        "--out", str(w.file("plain"))], watch="plain"), ("plain", "is a file")),
    Case("render --out under a file", _poseact(lambda w: [
        "render", *lifter_run_args(w.store, w.lifter), "--subject", "S9", "--take", "Walking 1", "--camera",
        "54138969", "--out", f"{w.file('plain')}/r.mp4"], watch="plain"), ("plain", "cannot be written")),
    Case("sweep output under a file", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w)), "--output", f"{w.file('plain')}/sweep"], watch="plain"),
        ("plain", "cannot be written")),
    Case("data_prep --out under a file", _prepare("prepare_custom.py", lambda w: [
        "--data-2d", str(w.file("d.npz")), "--out", f"{w.file('plain')}/s.h5"], watch="plain"),
        ("plain", "cannot be written")),
    # -- numbers on the command line -------------------------------------------------------------
    Case("infer --image-size 0 0", _poseact(lambda w: [
        "infer", "k.json", "--checkpoint", "c.ckpt", "--image-size", "0", "0", "--out", str(w.tmp / "run")]),
        ("--image-size", "at least 1")),
    Case("infer --fps -1", _poseact(lambda w: [
        "infer", "k.json", "--checkpoint", "c.ckpt", "--fps", "-1", "--out", str(w.tmp / "run")]),
        ("--fps", "positive")),
    Case("infer --max-gap -2", _poseact(lambda w: [
        "infer", "k.json", "--checkpoint", "c.ckpt", "--max-gap", "-2", "--out", str(w.tmp / "run")]),
        ("--max-gap", "0 or more")),
    Case("infer --limit 0", _poseact(lambda w: [
        "infer", "k.json", "--checkpoint", "c.ckpt", "--limit", "0", "--out", str(w.tmp / "run")]),
        ("--limit", "at least 1")),
    Case("detect --min-confidence 1.5", _poseact(lambda w: [
        "detect", "v.mp4", "--min-confidence", "1.5", "--out", str(w.tmp / "run/k.json")]),
        ("--min-confidence", "[0, 1]")),
    Case("detect --box with NaN", _poseact(lambda w: [
        "detect", "v.mp4", "--box", "1", "2", "nan", "--out", str(w.tmp / "run/k.json")]), ("--box", "finite")),
    Case("render --size 0", _poseact(lambda w: [
        "render", DEMO, "--subject", "S9", "--take", "x", "--camera", "c", "--size", "0"]), ("--size", "at least 1")),
    Case("sweep --workers 0", _poseact(lambda w: ["sweep", "s.yaml", "--workers", "0"]), ("--workers", "at least 1")),
    Case("data_prep --fps 0", _prepare("prepare_custom.py", lambda w: ["--data-2d", "d.npz", "--fps", "0"]),
         ("--fps", "positive")),
    # -- corrupt data --------------------------------------------------------------------------------
    Case("zeroed block in a checksummed store", _poseact(lambda w: w.fit(f"data.store={_zeroed_block(w, True)}")),
         ("zeroed.h5", "checksum")),
    Case("zeroed block in an old store", _poseact(lambda w: w.fit(f"data.store={_zeroed_block(w, False)}")),
         ("zeroed.h5", "every joint at the same point", "frame")),
    Case("collapsed bone", _poseact(lambda w: w.fit(f"data.store={_collapsed_bone(w)}")),
         ("collapsed.h5", "zero-length bone", "left_knee-left_hip")),
    Case("truncated store", _poseact(lambda w: w.fit(f"data.store={_truncated(w)}")), ("truncated.h5", "corrupt")),
    Case("17-joint 3-D to the H36M converter", _prepare("prepare_h36m.py", _h36m_17_joint_files),
         ("positions_3d", "(20, 17, 3)", "32-joint")),
    # -- values with no meaning: refused, never a table ----------------------------------------------
    Case("keypoints with a zero frame size", _poseact(lambda w: _infer(w, _keypoint_json(w, width=0))),
         ("k.json", "width 0", "positive")),
    Case("keypoints with a negative frame size", _poseact(lambda w: _infer(w, _keypoint_json(w, height=-5))),
         ("k.json", "height -5", "positive")),
    Case("keypoints all at (0, 0)", _poseact(lambda w: _infer(w, _keypoint_json(w, at_zero=True))),
         ("k.json", "(0, 0)",)),
    Case("keypoints with a text score", _poseact(lambda w: _infer(w, _keypoint_json(w, score="high"))),
         ("k.json", "score 'high'", "not a number")),
    Case("keypoints with a list as layout", _poseact(lambda w: _infer(w, _keypoint_json(w, layout=["coco17"]))),
         ("k.json", "layout ['coco17']",)),
    Case("COCO results with a list as image_id", _poseact(lambda w: _infer(w, w.file(
        "coco.json", b'[{"image_id": [1], "keypoints": [1, 2, 1], "score": 0.9}]'))), ("coco.json", "image_id [1]")),
    Case("npz keypoints with a zero frame size", _poseact(lambda w: _infer(w, _custom_npz(w, width=0))),
         ("custom.npz", "width 0")),
    Case("npz keypoints of the wrong type", _poseact(lambda w: _infer(w, _custom_npz(w, views="text"))),
         ("custom.npz", "'v.mp4'", "per-camera")),
    Case("VideoPose3D npz with a text joint count", _prepare("prepare_custom.py", lambda w: [
        "--data-2d", str(_custom_npz(w, num_joints="seventeen")), "--out", str(w.tmp / "out/c.h5")]),
        ("custom.npz", "num_joints 'seventeen'", "whole number")),
    Case("VideoPose3D npz with a list as layout name", _prepare("prepare_custom.py", lambda w: [
        "--data-2d", str(_custom_npz(w, layout_name=["coco"])), "--out", str(w.tmp / "out/c.h5")]),
        ("custom.npz", "layout_name ['coco']")),
    Case("export of NaN weights", _poseact(lambda w: [
        "export", str(_nan_checkpoint(w)), str(w.tmp / "out.bin")], watch="out.bin"), ("model_pos", "non-finite")),
    Case("converter --out is its 2-D input", _prepare("prepare_custom.py", lambda w: [
        "--data-2d", str(_custom_npz(w)), "--out", str(w.tmp / "custom.npz")], watch="custom.npz"),
        ("--out", "is the input", "custom.npz")),
    Case("converter --out is its 3-D input", _prepare("prepare_h36m.py", lambda w: [
        "--data-3d", str(w.file("data_3d.npz", b"PK")), "--data-2d", str(w.file("data_2d.npz", b"PK")),
        "--out", str(w.tmp / "sub" / ".." / "data_3d.npz")], watch="data_3d.npz"), ("--out", "is the input")),
    Case("converter --out is a file inside its input folder", _prepare("prepare_mocap.py", lambda w: [
        str(_mocap_folder(w)), "--out", str(_mocap_folder(w) / "take.bvh")], watch="mocap/take.bvh"),
        ("--out", "take.bvh", "not an HDF5 store")),
    # -- sweeps ------------------------------------------------------------------------------------
    Case("sweep whose command passes no values", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w, command=["${env}", "${interpreter}", "-m", "poseact", "fit", DEMO,
                                             f"data.store={w.store}"])), "--dry-run"]),
        ("sweep.yaml", "${args_no_hyphens}", "same configuration")),
    Case("random sweep without run_cap (dry run)", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w, method="random")), "--dry-run"], watch="run"), ("run_cap",)),
    Case("sweep --storage malformed (dry run)", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w)), "--storage", "not a url", "--dry-run"]), ("--storage", "not a database URL")),
    Case("sweep --storage of an unknown kind (dry run)", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w)), "--storage", "nosuchdb://h/x", "--dry-run"]), ("--storage", "'nosuchdb'")),
    Case("sweep --storage whose driver is missing (dry run)", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w)), "--storage", "mysql://u@h/db", "--dry-run"]), ("--storage", "not installed")),
    Case("sweep --storage in a missing folder (dry run)", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w)), "--storage", f"sqlite:///{w.tmp}/nowhere/s.db", "--dry-run"]),
        ("--storage", "does not exist")),
    Case("sweep of an unknown key", _poseact(lambda w: [
        "sweep", str(_sweep_yaml(w, parameters={"optim.learning_rate": {"values": [1]}})), "--dry-run"]),
        ("sweep.yaml", "optim.learning_rate")),
]


def _keypoint_json(w: World, width=640, height=480, at_zero=False, score=0.9, layout=None) -> Path:
    """A poseact keypoint JSON of one COCO-17 person over 30 frames, with one field made bad."""
    import json

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(30):
        xy = np.zeros((17, 2)) if at_zero else rng.uniform(100, 400, (17, 2))
        frames.append([{"keypoints": [v for x, y in xy for v in (float(x), float(y), 0.9)], "score": score}])
    doc = {"width": width, "height": height, "fps": 25, "frames": frames}
    if layout is not None:
        doc["layout"] = layout
    p = w.tmp / "k.json"
    p.write_text(json.dumps(doc))
    return p


def _custom_npz(w: World, width=640, views=None, num_joints=17, layout_name="coco") -> Path:
    """A VideoPose3D ``data_2d_custom`` file of one video (``views``: what stands for its camera list)."""
    rng = np.random.default_rng(0)
    arr = rng.uniform(100, 400, (30, 17, 2)).astype(np.float32)
    p = w.tmp / "custom.npz"
    np.savez(p, positions_2d={"v.mp4": {"custom": [arr] if views is None else views}},
             metadata={"layout_name": layout_name, "num_joints": num_joints,
                       "video_metadata": {"v.mp4": {"w": width, "h": 480}}})
    return p


def _infer(w: World, keypoints: Path) -> list[str]:
    return ["infer", str(keypoints), "--checkpoint", str(w.lifter / "checkpoints/last.ckpt"),
            "--out", str(w.tmp / "run"), "--render", "none"]


def _nan_checkpoint(w: World) -> Path:
    raw = torch.load(w.lifter / "checkpoints/last.ckpt", weights_only=True)
    key = next(k for k in raw["state_dict"] if k.startswith("model.") and k.endswith("weight"))
    raw["state_dict"][key] = torch.full_like(raw["state_dict"][key], float("nan"))
    p = w.tmp / "nan.ckpt"
    torch.save(raw, p)
    return p


def _resume_case(w: World, corrupt: bool) -> tuple[str, list[str], Path]:
    run = w.tmp / "resume"
    shutil.copytree(w.lifter, run)
    if corrupt:
        (run / "checkpoints/last.ckpt").write_bytes(b"\x00" * 100)
    return "poseact", w.fit("model.channels=64", out="resume"), run


def _snapshot(folder: Path) -> dict[str, str]:
    if folder.is_file():
        return {folder.name: hashlib.sha1(folder.read_bytes()).hexdigest()}
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _run(prog: str, argv: list[str]) -> int:
    if prog == "poseact":
        return main(argv)
    spec = importlib.util.spec_from_file_location(prog.removesuffix(".py"), REPO / "data_prep" / prog)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    try:
        return script.main(argv)
    except SystemExit as e:  # argparse
        return int(e.code)


@pytest.fixture
def world(tmp_path, session_store, lifter_run, multitask_run, multitask_cache):
    return World(tmp_path, session_store, lifter_run, multitask_run, multitask_cache)


def test_enough_cases():
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_is_one_line_and_leaves_nothing(case: Case, world: World, capsys, monkeypatch):
    monkeypatch.chdir(world.tmp)
    prog, argv, watch = case.args(world)
    before = _snapshot(watch)
    lifter_before, multitask_before = _snapshot(world.lifter), _snapshot(world.multitask)
    capsys.readouterr()
    try:
        code = _run(prog, argv)
    except SystemExit as e:  # argparse inside poseact's main
        code = int(e.code)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error:" in line]
    assert code == 2, (code, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    assert len(errors) == 1 and errors[0].startswith(prog), err[-3000:]  # "poseact infer: error: ..." for usage
    for fragment in case.expect:
        assert fragment in errors[0], (fragment, errors[0])
    assert _snapshot(watch) == before, f"{watch} changed"
    assert _snapshot(world.lifter) == lifter_before and _snapshot(world.multitask) == multitask_before
    leftovers = [p for p in world.tmp.rglob("*") if ".poseact-tmp-" in p.name]
    assert not leftovers, leftovers


def _mount_tmpfs(path: Path, *options: str) -> bool:
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], capture_output=True)  # lazy: a logger may still hold a file


def test_read_only_output_dir_is_refused_before_any_work(world, capsys):
    ro = world.tmp / "ro"
    if not _mount_tmpfs(ro, "ro", "size=1m"):
        pytest.skip("this machine does not let the tests mount a read-only file system")
    try:
        assert main(world.fit(f"output_dir={ro}/run")) == 2
        err = capsys.readouterr().err
        assert "read-only file system" in err and "Traceback" not in err, err
    finally:
        _umount(ro)


@pytest.mark.slow
def test_a_disk_that_fills_during_a_fit_leaves_no_truncated_checkpoint(world, capsys):
    """A 4 MiB disk: the 8-channel lifter's checkpoints (~60 kB) fit, a wide one's (~38 MB) do not."""
    small = world.tmp / "small"
    if not _mount_tmpfs(small, "size=4m"):
        pytest.skip("this machine does not let the tests mount a small file system")
    try:
        code = main(world.fit(f"output_dir={small}/run", "model.channels=1024", "trainer.max_epochs=2"))
        err = capsys.readouterr().err
        assert code == 2 and "No space left on device" in err and "Traceback" not in err, err[-2000:]
        left = [p.name for p in (small / "run").rglob("*") if p.is_file()]
        assert not [n for n in left if n.endswith(".ckpt") or ".poseact-tmp-" in n], left
    finally:
        _umount(small)


def test_a_loss_that_becomes_non_finite_stops_the_run_naming_step_and_lr(world, capsys):
    out = world.tmp / "exploding"
    assert main(world.fit("optim.lr=1e30", "optim.amsgrad=false", out="exploding")) == 2
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if ": error:" in x]
    assert len(line) == 1 and "non-finite at step" in line[0] and "lr 1e+30" in line[0], err[-2000:]
    assert "Traceback" not in err
    assert not (out / "results").exists() and not list(out.rglob("*.ckpt"))  # no table of a broken model


def test_a_loss_that_explodes_but_stays_finite_stops_the_run(world, capsys):
    """lr 1e6: the loss grows to absurd, finite values (P1 ~1e16 mm once); the run stops naming step and lr."""
    out = world.tmp / "exploded"
    assert main(world.fit("optim.lr=1e6", out="exploded")) == 2
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if ": error:" in x]
    assert len(line) == 1 and "exploded to" in line[0] and "at step" in line[0] and "lr 1e+06" in line[0], err[-2000:]
    assert "Traceback" not in err
    assert not (out / "results").exists() and not list(out.rglob("*.ckpt"))


def test_a_run_that_would_train_no_step_says_so(world, capsys):
    assert main(world.fit("trainer.limit_train_batches=0.0001", out="nothing")) == 2
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if ": error:" in x]
    assert len(line) == 1 and "limit_train_batches" in line[0] and "Traceback" not in err, err[-2000:]
    assert not (world.tmp / "nothing/results").exists()


# -- a full disk under every writer (a real tmpfs, filled) ---------------------------------------------

def _mocap_folder(w) -> Path:
    """A folder holding one real BVH excerpt (tests/data/mocap), copied as ``take.bvh``."""
    folder = w.tmp / "mocap"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "tests/data/mocap/bvhtools_test2_excerpt.bvh", folder / "take.bvh")
    return folder


@pytest.fixture
def full_disk(world):
    """A 1 MiB tmpfs with a filler file taking all but 4 kB of it."""
    disk = world.tmp / "full"
    if not _mount_tmpfs(disk, "size=1m"):
        pytest.skip("this machine does not let the tests mount a small file system")
    try:
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(free - 4096, 0))
        yield disk
    finally:
        _umount(disk)


FULL_DISK_WRITERS = {
    "data synthetic": lambda w, d: ("poseact", ["data", "synthetic", f"data.synthetic.cache_dir={d}"]),
    "converter (h5py)": lambda w, d: ("prepare_custom.py", ["--data-2d", str(_custom_npz(w)), "--out", str(d / "c.h5")]),
    "predict": lambda w, d: ("poseact", ["predict", *lifter_run_args(w.store, w.lifter), "--out", str(d / "p.npz")]),
    "export .bin": lambda w, d: ("poseact", ["export", str(w.lifter / "checkpoints/last.ckpt"), str(d / "o.bin")]),
    "export TorchScript": lambda w, d: ("poseact", ["export", str(w.lifter / "checkpoints/last.ckpt"), str(d / "o.pt")]),
    "infer (npz, json, gif render)": lambda w, d: ("poseact", [
        "infer", str(_custom_npz(w)), "--checkpoint", str(w.lifter / "checkpoints/last.ckpt"), "--out", str(d / "o"),
        "--render", "gif", "--fps", "25"]),
}


def test_a_full_disk_under_the_video_writer_is_one_error_and_leaves_nothing(full_disk):
    """ffmpeg dies when the disk fills (its pipe breaks under the writer): one VideoError naming the
    output, not a broken-pipe exit, and no half-written video."""
    from poseact.errors import PoseactError
    from poseact.viz.video import write_video

    frames = (np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8) for i in range(60))
    with pytest.raises(PoseactError, match=r"a\.mp4.*(encoder|disk)") as e:
        write_video(frames, full_disk / "a.mp4", 25)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler"]


@pytest.mark.parametrize("writer", FULL_DISK_WRITERS)
def test_a_full_disk_is_one_line_and_leaves_nothing(writer, world, full_disk, capsys):
    prog, argv = FULL_DISK_WRITERS[writer](world, full_disk)
    capsys.readouterr()
    code = _run(prog, argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error:" in line]
    assert code == 2 and "Traceback" not in err and len(errors) == 1, (code, err[-3000:])
    assert "No space left on device" in errors[0], errors[0]
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler"]
