"""``poseact infer`` with poseact's multi-task model as the 2-D detector (``--keypoints multitask``).

A real multi-task checkpoint is made once by ``poseact fit configs/experiment/multitask_tiny.yaml``
cut to one training step (≈15 s); a stub model with known outputs checks the crop geometry and
the no-person path exactly.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO
from poseact.cli import main
from poseact.infer import multitask_keypoints as mk
from poseact.infer.formats import read_keypoints
from poseact.lifting.checkpoint import save_videopose3d_checkpoint
from poseact.multitask.models.spnet import SPNetConfig
from poseact.lifting.models.temporal import TemporalLifter
from poseact.viz.video import iter_frames, write_video

TINY = REPO / "configs" / "experiment" / "multitask_tiny.yaml"


@pytest.fixture(scope="module")
def multitask_ckpt(tmp_path_factory):
    """``last.ckpt`` of a one-step ``poseact fit`` of the tiny multi-task config (64 px, 17 joints)."""
    tmp = tmp_path_factory.mktemp("multitask")
    run = tmp / "run"
    assert main(["fit", str(TINY), f"output_dir={run}", f"data.synthetic.cache_dir={tmp / 'cache'}",
                 "data.synthetic.subjects=[S1]", "data.subjects_test=[S1]", "data.render_cameras=[0]",
                 "data.synthetic.seconds_per_take=2.0", "data.clip_length=2", "data.render_frame_step=25",
                 "data.steps_per_epoch=1", "data.batch_clips=1", "trainer.max_epochs=1"]) == 0
    return run / "checkpoints" / "last.ckpt"


def _lifter(path, joints_in=17, traj=False):
    torch.manual_seed(0)
    pose = TemporalLifter(joints_in, 2, joints_in, [3, 3], channels=16)
    t = TemporalLifter(joints_in, 2, 1, [3, 3], channels=16) if traj else None
    return save_videopose3d_checkpoint(path, pose, t)


def _video(path, n=12, w=80, h=48, dark=()):
    rng = np.random.default_rng(0)
    frames = [np.zeros((h, w, 3), np.uint8) if i in dark else rng.integers(60, 255, (h, w, 3), dtype=np.uint8)
              for i in range(n)]
    return write_video(frames, path, fps=10)


def _nothing_in(out):
    return not out.exists() or not any(out.iterdir())


def test_infer_video_with_the_multitask_model(multitask_ckpt, tmp_path, capsys):
    video = _video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["infer", str(video), "--checkpoint", str(_lifter(tmp_path / "lifter.bin", traj=True)),
                 "--keypoints", "multitask", "--keypoint-checkpoint", str(multitask_ckpt),
                 "--min-confidence", "0", "--out", str(out), "--render", "gif", "--limit", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.gif", "clip_3d.json", "clip_3d.npz", "clip_keypoints.json"]
    d = np.load(out / "clip_3d.npz")
    assert d["pose3d"].shape == (12, 17, 3) and d["trajectory"].shape == (12, 3)
    assert d["keypoints_2d"].shape == (12, 17, 2) and str(d["layout_2d"]) == "h36m17"
    # centre crop of an 80×48 frame: the square x ∈ [16, 64], y ∈ [0, 48]
    kps = d["keypoints_2d"]
    assert (kps[..., 0] >= 16).all() and (kps[..., 0] <= 64).all() and (kps[..., 1] >= 0).all() and (kps[..., 1] <= 48).all()
    k = json.loads((out / "clip_keypoints.json").read_text())
    assert k["layout"] == "h36m17" and k["crop"] == {"mode": "centre", "box": [16, 0, 48]}
    assert (k["width"], k["height"], k["fps"]) == (80, 48, 10.0) and len(k["frames"]) == 12
    doc = json.loads((out / "clip_3d.json").read_text())
    assert doc["detector"] == "multitask" and doc["keypoint_checkpoint"] == str(multitask_ckpt)
    assert "multi-task model" in doc["person"] and doc["fps"] == 10.0
    assert len(list(iter_frames(out / "clip.gif"))) == 3
    assert "wrote" in capsys.readouterr().out


def test_detect_frames_with_a_box_and_a_moved_checkpoint(multitask_ckpt, tmp_path, capsys):
    import imageio.v3 as iio

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        iio.imwrite(folder / f"{i:03d}.png", np.full((40, 60, 3), 50 * i + 30, np.uint8))
    out = tmp_path / "k.json"
    assert main(["detect", str(folder), "--keypoint-checkpoint", str(multitask_ckpt), "--box", "10", "-5", "30",
                 "--min-confidence", "0", "--out", str(out)]) == 0
    track = read_keypoints(out)
    assert track.layout == "h36m17" and track.keypoints.shape == (3, 17, 2) and (track.width, track.height) == (60, 40)
    assert (track.keypoints[..., 0] >= 10).all() and (track.keypoints[..., 0] <= 40).all()
    assert (track.keypoints[..., 1] >= -5).all() and (track.keypoints[..., 1] <= 25).all()
    # a checkpoint describes its network: it works away from its run folder
    moved = tmp_path / "elsewhere" / "mt.ckpt"
    moved.parent.mkdir()
    shutil.copy(multitask_ckpt, moved)
    assert main(["detect", str(folder), "--keypoint-checkpoint", str(moved), "--min-confidence", "0",
                 "--out", str(tmp_path / "k1.json")]) == 0
    # one written before checkpoints described their network needs its config away from its run
    import torch

    raw = torch.load(moved, weights_only=False)
    raw["hyper_parameters"].pop("model")
    torch.save(raw, moved)
    capsys.readouterr()
    assert main(["detect", str(folder), "--keypoint-checkpoint", str(moved), "--out", str(tmp_path / "k2.json")]) == 2
    err = capsys.readouterr().err
    assert "mt.ckpt" in err and "--keypoint-config" in err
    assert not (tmp_path / "k2.json").exists()
    cfg = multitask_ckpt.parent.parent / "config.yaml"
    assert main(["detect", str(folder), "--keypoint-checkpoint", str(moved), "--keypoint-config", str(cfg),
                 "--crop", "full", "--min-confidence", "0", "--out", str(tmp_path / "k2.json")]) == 0
    assert json.loads((tmp_path / "k2.json").read_text())["crop"] == {"mode": "full", "box": [0, -10, 60]}


def test_bad_input_names_the_file_and_leaves_nothing(multitask_ckpt, tmp_path, capsys):
    video = _video(tmp_path / "clip.mp4", n=4)
    lifter = str(_lifter(tmp_path / "lifter.bin"))
    out = tmp_path / "out"
    mt = ["--keypoint-checkpoint", str(multitask_ckpt)]

    def fails(*args, expect):
        assert main(["infer", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        for e in expect:
            assert e in err, (e, err)
        assert "Traceback" not in err
        assert _nothing_in(out), sorted(out.iterdir())

    # nobody found in any frame (no frame reaches a mean confidence of 1)
    fails(str(video), "--checkpoint", lifter, *mt, "--min-confidence", "1", expect=["clip.mp4", "no person"])
    # a lifter of another joint count: no conversion from the model's H36M-17
    fails(str(video), "--checkpoint", str(_lifter(tmp_path / "humaneva.bin", joints_in=15)), *mt,
          expect=["humaneva.bin", "last.ckpt", "15 joints", "h36m17"])
    # a lifter checkpoint where the keypoint model should be
    fails(str(video), "--checkpoint", lifter, "--keypoint-checkpoint", lifter,
          expect=["lifter.bin", "lifter checkpoint, not a multitask one"])
    # an undecodable video
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 50)
    fails(str(bad), "--checkpoint", lifter, *mt, expect=["broken.mp4", "cannot be decoded"])
    # options that do not go together
    fails(str(video), "--checkpoint", lifter, "--keypoints", "multitask", expect=["--keypoint-checkpoint CKPT"])
    kp = tmp_path / "k.json"
    kp.write_text(json.dumps([[[[1, 2, 1]] * 17]] * 3))
    fails(str(kp), "--checkpoint", lifter, *mt, "--image-size", "64", "48", expect=["k.json", "keypoint file"])
    fails(str(kp), "--checkpoint", lifter, "--keypoints", "mediapipe", "--image-size", "64", "48",
          expect=["k.json", "keypoint file"])
    fails(str(video), "--checkpoint", lifter, "--keypoints", "coco17", expect=["clip.mp4", "mediapipe|multitask"])
    fails(str(video), "--checkpoint", lifter, *mt, "--box", "0", "0", "0", expect=["--box 0 0 0", "SIDE > 0"])


def test_failure_during_detection_leaves_nothing(multitask_ckpt, tmp_path, monkeypatch):
    from poseact.infer.pipeline import run_infer

    def broken(km, frames, box, batch=16):
        yield np.zeros((17, 2), np.float32), np.ones(17, np.float32)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(mk, "predict_keypoints", broken)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    with pytest.raises(RuntimeError, match="out of memory"):
        run_infer(_video(tmp_path / "c.mp4", n=3), _lifter(tmp_path / "m.bin"), out,
                  keypoint_checkpoint=multitask_ckpt, min_confidence=0.0)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


class _Stub(torch.nn.Module):
    """An SPNet stand-in: every joint at (0.25, 0.75) of the crop; confidence 0.9 on bright crops,
    0.05 on dark ones (no person)."""

    cfg = SPNetConfig(num_joints=17, input_size=32, num_pyramids=1, num_levels=2)

    def forward(self, frames: torch.Tensor, with_action: bool = True):
        assert frames.shape[1:] == (3, 32, 32) and not with_action
        n = frames.shape[0]
        out = torch.zeros(n, 1, 17, 3)
        out[..., 0], out[..., 1] = 0.25, 0.75
        out[..., 2] = torch.where(frames.mean(dim=(1, 2, 3)) > -0.5, 0.9, 0.05)[:, None, None]
        return [out], []


@pytest.mark.parametrize("crop, expected", [("centre", (8 + 0.25 * 48, 0.75 * 48)),
                                            ("full", (0.25 * 64, -8 + 0.75 * 64))])
def test_crop_geometry_and_frames_without_a_person(tmp_path, monkeypatch, crop, expected):
    stub = mk.KeypointModel(_Stub(), "h36m17", "stub.ckpt", "test")
    monkeypatch.setattr(mk, "load_keypoint_model", lambda path, config=None: stub)
    from poseact.infer.pipeline import run_infer

    video = _video(tmp_path / "c.mp4", n=10, w=64, h=48, dark=(3, 4))
    res = run_infer(video, _lifter(tmp_path / "m.bin"), tmp_path / "out", keypoint_checkpoint="stub.ckpt",
                    crop=crop, render=None)
    d = np.load(res.npz)
    np.testing.assert_allclose(d["keypoints_2d"], np.broadcast_to(expected, (10, 17, 2)), atol=1e-3)
    assert not d["flagged"].any() and (d["confidence"][[3, 4]] == 0).all()
    assert "2 of 10 frames without a person" in res.gaps
    doc = json.loads(res.json.read_text())
    assert doc["gaps"]["empty_frames"] == 2 and "confidence < 0.2" in doc["person"]
    assert res.keypoints is not None and json.loads(res.keypoints.read_text())["frames"][3] == []


def test_crop_frames_cuts_pads_and_resizes():
    frame = np.zeros((1, 40, 60, 3), np.uint8)
    frame[0, 10:20, 30:40] = 255  # a white square, centre (35, 15)
    x = mk.crop_frames(frame, (20, 0, 40), 20)  # box x ∈ [20, 60], y ∈ [0, 40] → half size
    assert x.shape == (1, 3, 20, 20) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    ys, xs = np.nonzero(x[0, 0].numpy() > 0)
    assert (xs.mean(), ys.mean()) == pytest.approx(((35 - 20) / 2 - 0.5, 15 / 2 - 0.5), abs=0.3)
    padded = mk.crop_frames(frame, (-10, -10, 80), 80)  # past the frame: black padding
    assert padded.shape == (1, 3, 80, 80) and (padded[0, :, :10] == -1).all()
    assert mk.crop_box(80, 48, "centre") == (16, 0, 48) and mk.crop_box(80, 48, "full") == (0, -16, 80)
    with pytest.raises(ValueError, match="side"):
        mk.crop_box(80, 48, box=(0, 0, 0))
