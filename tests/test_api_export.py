"""The Python API (``poseact.load_lifter`` / ``lift`` / ``export``, no Lightning), exported lifters
(TorchScript and ONNX, run outside poseact and compared with the original), and the bone rules
(one length per bone, the stature scale rule)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from poseact import bones
from poseact.errors import UsageError
from poseact.lifting.checkpoint import LifterCheckpoint, save_videopose3d_checkpoint
from poseact.lifting.models import MixSTEConfig, TemporalConfig
from poseact.lifting.export import EXPORT_TOLERANCE_M, export_lifter, read_metadata
from poseact.lifting.models import build_lifter
from poseact.skeleton import get_skeleton


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Weights and BatchNorm statistics away from their initial values, so a wrong export shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


@pytest.fixture
def temporal_bin(tmp_path) -> Path:
    """A 27-frame lifter with a trajectory model, as an original VideoPose3D ``.bin``."""
    torch.manual_seed(0)
    cfg = TemporalConfig(filter_widths=[3, 3, 3], channels=32)
    pose = _randomised(build_lifter(cfg, 17, 2, 17), 1)
    traj = _randomised(build_lifter(cfg, 17, 2, 1), 2)
    return save_videopose3d_checkpoint(tmp_path / "lifter.bin", pose, traj, epoch=1, lr=1e-3)


def _mixste_checkpoint(tmp_path) -> LifterCheckpoint:
    torch.manual_seed(0)
    cfg = MixSTEConfig(frames=9, depth=2, width=16, heads=2, drop_path=0.0)
    model = build_lifter(cfg, 17, 2, 17).eval()
    return LifterCheckpoint(path=tmp_path / "mixste.ckpt", format="poseact", pose=model.state_dict(), trajectory=None,
                            model=dataclasses.asdict(cfg), num_joints_in=17, in_features=2, num_joints_out=17,
                            layout_2d="h36m17", layout_3d="h36m17")


def _rand(*shape: int, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_torchscript_export_runs_alone_and_equals_the_original(temporal_bin, tmp_path):
    from poseact.lifting.checkpoint import read_lifter_checkpoint

    ckpt = read_lifter_checkpoint(temporal_bin)
    report = export_lifter(ckpt, tmp_path / "lifter.pt", "torchscript")
    assert report.max_abs_diff_m <= EXPORT_TOLERANCE_M and report.checked_shape != (1, 31, 17, 2)
    meta = read_metadata(report.path)
    assert meta["before"] == meta["after"] == 13 and meta["trajectory"] and meta["num_joints_in"] == 17
    loaded = torch.jit.load(str(report.path))  # plain torch: no poseact class needed to run it
    pose_model, traj_model = ckpt.build()
    x = torch.from_numpy(_rand(2, 80, 17, 2))  # a length and batch the export never saw
    with torch.no_grad():
        pose, traj = loaded(x)
        assert pose.shape == (2, 80 - 26, 17, 3) and traj.shape == (2, 80 - 26, 1, 3)
        assert torch.allclose(pose, pose_model(x), atol=1e-5) and torch.allclose(traj, traj_model(x), atol=1e-5)
        assert pose.std() > 1e-3  # the randomised model is not a constant


def test_onnx_export_runs_in_onnxruntime_and_equals_the_original(temporal_bin, tmp_path):
    import onnxruntime

    from poseact.lifting.checkpoint import read_lifter_checkpoint

    ckpt = read_lifter_checkpoint(temporal_bin)
    report = export_lifter(ckpt, tmp_path / "lifter.onnx", "onnx")
    assert report.max_abs_diff_m <= EXPORT_TOLERANCE_M
    assert read_metadata(report.path)["layout_2d"] is None  # a .bin does not say; the metadata does not guess
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    pose_model, traj_model = ckpt.build()
    for batch, length in ((1, 27), (4, 101)):
        x = _rand(batch, length, 17, 2, seed=length)
        pose, traj = session.run(None, {"keypoints": x})
        with torch.no_grad():
            np.testing.assert_allclose(pose, pose_model(torch.from_numpy(x)).numpy(), atol=1e-5)
            np.testing.assert_allclose(traj, traj_model(torch.from_numpy(x)).numpy(), atol=1e-5)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_mixste_exports_its_clip_form(tmp_path, fmt):
    ckpt = _mixste_checkpoint(tmp_path)
    report = export_lifter(ckpt, tmp_path / f"m.{'pt' if fmt == 'torchscript' else 'onnx'}", fmt)
    meta = read_metadata(report.path)
    assert meta["model"] == "mixste" and meta["frames"] == 9 and not meta["trajectory"]
    assert report.max_abs_diff_m <= EXPORT_TOLERANCE_M and report.checked_shape == (2, 9, 17, 2)


def test_export_command_writes_a_checked_file(lifter_run, tmp_path, capsys):
    from poseact.cli import main

    out = tmp_path / "exported" / "lifter.pt"
    assert main(["export", str(lifter_run / "checkpoints/last.ckpt"), str(out), "--format", "torchscript"]) == 0
    printed = capsys.readouterr().out
    assert "largest difference" in printed and str(out) in printed and out.is_file()
    assert read_metadata(out)["layout_2d"] == "h36m17"
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(lifter_run / "checkpoints/last.ckpt"), str(tmp_path / "x.onnx"), "--format", "tflite"])
    assert exit_.value.code == 2 and "torchscript" in capsys.readouterr().err


def test_the_api_lifts_without_lightning(temporal_bin, tmp_path):
    script = f"""
import sys, json, numpy as np, poseact
from poseact import bones
from poseact.skeleton import get_skeleton
lifter = poseact.load_lifter({str(temporal_bin)!r})
rng = np.random.default_rng(0)
kps = rng.uniform(200, 800, (40, 17, 2))
pose, traj = poseact.lift(lifter, kps, image_size=(1000, 1000))
one, one_traj = poseact.lift(lifter, kps[7], image_size=(1000, 1000))
coco = poseact.lift(lifter, rng.uniform(200, 800, (5, 17, 2)), image_size=(1000, 1000), layout="coco17")[0]
tall = poseact.lift(lifter, kps, image_size=(1000, 1000), height=1.9, steady_bones=True)[0]
print(json.dumps({{"shape": pose.shape, "traj": traj.shape, "one": one.shape, "one_traj": one_traj.shape,
                  "coco": coco.shape, "root": float(np.abs(pose[:, 0]).max()),
                  "lightning": sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')),
                  "stature": float(np.median(bones.stature(tall, 'h36m17'))),
                  "spread": float(bones.bone_lengths(tall, get_skeleton('h36m17')).std(0).max())}}))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["shape"] == [40, 17, 3] and got["traj"] == [40, 3]
    assert got["one"] == [17, 3] and got["one_traj"] == [3] and got["coco"] == [5, 17, 3]
    assert got["root"] == 0.0 and got["lightning"] == []
    assert abs(got["stature"] - 1.9) < 1e-4 and got["spread"] < 1e-5


def test_the_api_says_what_is_wrong_with_keypoints(temporal_bin):
    import poseact

    lifter = poseact.load_lifter(temporal_bin)
    kps = np.full((10, 17, 2), 100.0)
    with pytest.raises(UsageError, match=r"\(T, J, 2\)"):
        poseact.lift(lifter, kps[..., :1], image_size=(640, 480))
    bad = kps.copy()
    bad[3, 4, 0] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        poseact.lift(lifter, bad, image_size=(640, 480))
    with pytest.raises(UsageError, match="confidence"):
        poseact.lift(lifter, kps, image_size=(640, 480), confidence=np.ones((10, 16)))
    with pytest.raises(AttributeError, match="no attribute 'lifter'"):
        poseact.lifter  # noqa: B018


def _walking_poses(subject: str, frames: int = 30) -> np.ndarray:
    """Root-relative poses of a synthetic body (its real bone lengths) in varied joint rotations."""
    from poseact.synthetic.motion import body_model, forward_kinematics

    body = body_model(subject)
    rng = np.random.default_rng(0)
    angles = rng.normal(0, 0.3, (frames, 17, 3))
    rot = np.empty((frames, 17, 3, 3))
    for t in range(frames):
        for j in range(17):
            rot[t, j] = _rotation(angles[t, j])
    rot[:, 0] = np.eye(3)  # the trunk upright: the chain is measured along the bones, not vertically
    return forward_kinematics(body.offsets, rot), body


def _rotation(v: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(v)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / max(theta, 1e-12)
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


@pytest.mark.parametrize("subject", ["S1", "S5", "S9", "S11"])
def test_the_stature_rule_recovers_a_bodys_height(subject):
    pose, body = _walking_poses(subject)
    estimate = bones.stature(pose, "h36m17")
    assert np.allclose(estimate, estimate[0])  # lengths along the chain: the same in every pose
    assert abs(estimate[0] / body.height - 1) < 0.05, (estimate[0], body.height)
    factor = bones.scale_to_height(pose * 0.6, "h36m17", 1.70)  # a lifter's output at 60 % size
    assert abs(np.median(bones.stature(pose * 0.6 * factor, "h36m17")) - 1.70) < 1e-9


def test_constant_bones_keep_directions_and_take_the_median():
    pose, _ = _walking_poses("S1")
    sk = get_skeleton("h36m17")
    rng = np.random.default_rng(1)
    # each bone stretched by up to ±6 % per frame, as a lifter's output wobbles (rebuilt parents first)
    stretch = 1 + rng.uniform(-0.06, 0.06, (len(pose), len(sk.bones)))
    rebuilt = np.zeros_like(pose)
    for b, (c, p) in enumerate(sk.bones):
        rebuilt[:, c] = rebuilt[:, p] + (pose[:, c] - pose[:, p]) * stretch[:, b, None]
    before = bones.bone_lengths(rebuilt, sk)
    assert before.std(0).max() > 0.005
    steady = bones.constant_bones(rebuilt, sk, symmetric=False)
    after = bones.bone_lengths(steady, sk)
    assert after.std(0).max() < 1e-9
    np.testing.assert_allclose(after[0], np.median(before, axis=0), atol=1e-9)
    for b, (c, p) in enumerate(sk.bones):
        u_before = (rebuilt[:, c] - rebuilt[:, p]) / before[:, b, None]
        u_after = (steady[:, c] - steady[:, p]) / after[:, b, None]
        np.testing.assert_allclose(u_after, u_before, atol=1e-9)
    np.testing.assert_array_equal(steady[:, 0], rebuilt[:, 0])
    symmetric = bones.bone_lengths(bones.constant_bones(rebuilt, sk), sk)[0]
    index = {bone: b for b, bone in enumerate(sk.bones)}
    flip = sk.flip_permutation()
    for b, (c, p) in enumerate(sk.bones):
        assert abs(symmetric[b] - symmetric[index[(int(flip[c]), int(flip[p]))]]) < 1e-12
    # infer's body rules report the wobble constant bones removed: the bones as lifted, at the output's scale
    _, _, report = bones.apply_body_rules(rebuilt, None, "h36m17", None, 1.70, constant=True)
    assert report["bones"]["largest_spread_m"] < 1e-4
    lifted = report["bones_as_lifted"]["largest_spread_m"]
    assert abs(lifted - before.std(0).max() * report["scale"]) < 2e-4 and lifted > 0.005 * report["scale"]
    assert "bones_as_lifted" not in bones.apply_body_rules(rebuilt, None, "h36m17", None, 1.70, constant=False)[2]
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        bones.constant_bones(pose[:, :16], sk)
    with pytest.raises(ValueError, match="stature"):
        bones.scale_to_height(pose, "h36m17", -1.0)


def test_export_format_follows_the_file_suffix(temporal_bin, tmp_path, capsys):
    import zipfile

    from poseact.cli import main

    assert main(["export", str(temporal_bin), str(tmp_path / "l.onnx")]) == 0
    assert not zipfile.is_zipfile(tmp_path / "l.onnx") and read_metadata(tmp_path / "l.onnx")["model"] == "temporal"
    assert main(["export", str(temporal_bin), str(tmp_path / "l.pt")]) == 0 and zipfile.is_zipfile(tmp_path / "l.pt")
    assert main(["export", str(temporal_bin), str(tmp_path / "l.tflite")]) == 2
    assert "--format" in capsys.readouterr().err and not (tmp_path / "l.tflite").exists()
