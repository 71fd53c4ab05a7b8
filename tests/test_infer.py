"""``poseact infer`` / ``render``: outputs, checkpoints of both kinds, bad input, video I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import REPO
from poseact.cli import main
from poseact.lifting.inference import lift, load_lifter
from poseact.lifting.checkpoint import save_videopose3d_checkpoint
from poseact.lifting.models.temporal import TemporalLifter
from poseact.skeleton import get_skeleton
from poseact.viz.video import VideoError, iter_frames, video_info, write_video

DEMO = str(REPO / "configs/experiment/demo.yaml")


def _bin(path, joints_in=17, traj=False, seed=0):
    torch.manual_seed(seed)
    pose = TemporalLifter(joints_in, 2, 17 if joints_in == 17 else joints_in, [3, 3], channels=16)
    t = TemporalLifter(joints_in, 2, 1, [3, 3], channels=16) if traj else None
    return save_videopose3d_checkpoint(path, pose, t)


def _ckpt(path, layout_2d="h36m17", traj=True, seed=0):
    """A file shaped like a poseact Lightning checkpoint (what ``load_lifter`` reads)."""
    torch.manual_seed(seed)
    j = get_skeleton(layout_2d).num_joints
    state = {f"model.{k}": v for k, v in TemporalLifter(j, 2, 17, [3, 3], channels=16).state_dict().items()}
    if traj:
        state |= {f"trajectory_model.{k}": v for k, v in TemporalLifter(j, 2, 1, [3, 3], channels=16).state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"num_joints_in": j, "in_features": 2,
                "layout_2d": layout_2d, "layout_3d": "h36m17"}}, path)
    return path


def _frames_json(path, layout="coco17", T=24, w=640, h=480, gaps=(5, 6), meta=True, seed=0):
    rng = np.random.default_rng(seed)
    J = get_skeleton(layout).num_joints
    frames = [[] if t in gaps else [{"keypoints": np.c_[rng.uniform(100, 400, (J, 2)), np.ones(J)].tolist()}]
              for t in range(T)]
    doc = {"layout": layout, "width": w, "height": h, "fps": 25, "frames": frames} if meta else frames
    path.write_text(json.dumps(doc))
    return path


def test_infer_writes_poses_json_and_render(tmp_path, capsys):
    kp = _frames_json(tmp_path / "walk.json")
    ckpt = _bin(tmp_path / "tiny_coco.bin")
    out = tmp_path / "out"
    assert main(["infer", str(kp), "--checkpoint", str(ckpt), "--out", str(out), "--render", "gif",
                 "--limit", "6"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["walk.gif", "walk_3d.json", "walk_3d.npz"]
    d = np.load(out / "walk_3d.npz")
    assert d["pose3d"].shape == (24, 17, 3) and "trajectory" not in d
    assert str(d["layout_2d"]) == "coco17"  # "coco" in the .bin's name
    np.testing.assert_array_equal(d["pose3d"][:, 0], 0)
    doc = json.loads((out / "walk_3d.json").read_text())
    assert doc["units"] == "m" and doc["fps"] == 25 and doc["gaps"]["empty_frames"] == 2
    assert doc["joint_names"][0] == "pelvis" and len(doc["pose3d"]) == 24
    np.testing.assert_allclose(doc["pose3d"], d["pose3d"], atol=1e-4)
    assert len(list(iter_frames(out / "walk.gif"))) == 6
    assert "2 of 24 frames without a person" in capsys.readouterr().out


def test_infer_ckpt_with_trajectory_converts_mediapipe(tmp_path):
    kp = _frames_json(tmp_path / "mp.json", layout="mediapipe33", gaps=())
    out = tmp_path / "out"
    assert main(["infer", str(kp), "--checkpoint", str(_ckpt(tmp_path / "run.ckpt")), "--out", str(out),
                 "--render", "none"]) == 0
    d = np.load(out / "mp_3d.npz")
    assert d["trajectory"].shape == (24, 3) and str(d["layout_2d"]) == "h36m17"
    assert d["keypoints_2d"].shape == (24, 17, 2)


def test_lift_equals_the_evaluation_path(tmp_path):
    """Inference pads and flips exactly as ``LiftingModule`` evaluates (spec §6.2–6.3)."""
    from poseact.geometry import normalize_screen_coordinates
    from poseact.lifting.tta import flip_tta

    lifter = load_lifter(_bin(tmp_path / "h36m.bin", seed=3))
    kps = np.random.default_rng(0).uniform(0, 1000, (40, 17, 2)).astype(np.float32)
    pose, traj = lift(lifter, kps, np.ones((40, 17), np.float32), 1000, 1002)
    x = torch.from_numpy(normalize_screen_coordinates(kps, 1000, 1002))
    pad = lifter.model.pad
    x = torch.cat([x[:1].repeat(pad, 1, 1), x, x[-1:].repeat(pad, 1, 1)])[None]
    flip = get_skeleton("h36m17").flip_permutation()
    with torch.no_grad():
        ref = flip_tta(lifter.model, x, flip, flip)[0].numpy()
    np.testing.assert_allclose(pose, ref - ref[:, :1], atol=1e-5)
    assert traj is None


def _no_outputs(out):
    return not out.exists() or not any(out.iterdir())


def test_undecodable_video_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 50)
    out = tmp_path / "out"
    assert main(["infer", str(bad), "--checkpoint", str(_bin(tmp_path / "m.bin")), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "cannot be decoded" in err and "Traceback" not in err
    assert _no_outputs(out)
    with pytest.raises(VideoError, match="broken.mp4"):
        next(iter_frames(bad))


def test_wrong_layout_keypoint_file_names_the_file(tmp_path, capsys):
    kp = _frames_json(tmp_path / "coco.json", meta=False)
    out = tmp_path / "out"
    args = ["--checkpoint", str(_bin(tmp_path / "m.bin")), "--out", str(out), "--image-size", "640", "480"]
    assert main(["infer", str(kp), "--keypoints", "mediapipe33", *args]) == 2
    assert "coco.json" in capsys.readouterr().err
    seven = tmp_path / "seven.json"
    seven.write_text(json.dumps([[[[1, 2, 1]] * 7]] * 3))
    assert main(["infer", str(seven), *args]) == 2
    err = capsys.readouterr().err
    assert "seven.json" in err and "7 joints" in err
    assert _no_outputs(out)


def test_joint_count_mismatch_names_both_files(tmp_path, capsys):
    kp = _frames_json(tmp_path / "clip.json")
    ckpt = _bin(tmp_path / "humaneva.bin", joints_in=15)
    out = tmp_path / "out"
    assert main(["infer", str(kp), "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "humaneva.bin" in err and "clip.json" in err and "15 joints" in err
    assert _no_outputs(out)


def test_clip_with_no_person_names_the_file(tmp_path, capsys):
    kp = _frames_json(tmp_path / "nobody.json", gaps=range(24))
    out = tmp_path / "out"
    assert main(["infer", str(kp), "--checkpoint", str(_bin(tmp_path / "m.bin")), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nobody.json" in err and "no person" in err
    assert _no_outputs(out)


def test_failure_during_render_leaves_nothing(tmp_path, monkeypatch):
    import poseact.viz.render as render

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "render_video", boom)
    from poseact.infer.pipeline import run_infer

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    with pytest.raises(RuntimeError):
        run_infer(_frames_json(tmp_path / "c.json"), _bin(tmp_path / "m.bin"), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_video_round_trip_and_folder(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
    mp4 = write_video(frames, tmp_path / "v.mp4", fps=12)
    info = video_info(mp4)
    assert (info["width"], info["height"], info["fps"]) == (64, 48, 12.0)
    back = list(iter_frames(mp4))
    assert len(back) == 10 and abs(int(back[5].mean()) - 100) <= 3
    import imageio.v3 as iio

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames[:3]):
        iio.imwrite(folder / f"{i:03d}.png", f)
    assert [int(f[0, 0, 0]) for f in iter_frames(folder)] == [0, 20, 40]
    with pytest.raises(VideoError, match=r"x\.avi"):
        write_video(frames, tmp_path / "x.avi", fps=10)


def test_render_store_sequence(projected_store, tmp_path, capsys):
    ckpt = _ckpt(tmp_path / "m.ckpt", traj=False)
    out = tmp_path / "r.mp4"
    assert main(["render", DEMO, f"data.store={projected_store}", f"checkpoint={ckpt}",
                 f"output_dir={tmp_path}", "--subject", "S9", "--take", "Walking 1", "--camera", "54138969",
                 "--out", str(out), "--limit", "5", "--size", "120"]) == 0
    assert len(list(iter_frames(out))) == 5
    assert main(["render", DEMO, f"data.store={projected_store}", f"checkpoint={ckpt}",
                 "--subject", "S9", "--take", "Dancing 1", "--camera", "54138969"]) == 2
    assert "Walking 1" in capsys.readouterr().err  # the error lists what the store has


def test_detect_without_environment_says_how_to_make_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(tmp_path / "no-env"))
    write_video([np.zeros((8, 8, 3), np.uint8)], tmp_path / "v.mp4", fps=1)
    assert main(["detect", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "k.json")]) == 2
    err = capsys.readouterr().err
    assert "poseact detect setup" in err and "no-env" in err
    assert not (tmp_path / "k.json").exists()
    assert main(["detect", str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4" in capsys.readouterr().err


def test_mediapipe_setup_swaps_opencv_only_for_missing_system_libraries():
    """``poseact detect setup`` falls back to headless OpenCV where cv2 lacks the system's libGL
    (checked for real on a fresh environment with a broken libGL.so.1 on LD_LIBRARY_PATH)."""
    from poseact.infer.detect import _needs_headless_opencv

    assert _needs_headless_opencv('File "<string>", line 1, in <module>\n  import cv2\n'
                                  "ImportError: libGL.so.1: cannot open shared object file: No such file")
    assert not _needs_headless_opencv("ModuleNotFoundError: No module named 'mediapipe'")


def test_render_size_follows_the_input_and_each_frame_is_drawn_afresh():
    from poseact.viz.render import output_height, render_frames

    assert output_height((1920, 1080)) == 540 and output_height((3840, 2160)) == 720
    assert output_height((640, 480)) == 480 and output_height((160, 120)) == 240
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.3, (3, 17, 3)).astype(np.float32)
    pose[2] = pose[0]  # frame 3 repeats frame 1: blitting must not leave frame 2's bones behind
    kps = rng.uniform(50, 250, (3, 17, 2))
    frames = list(render_frames(kps, "h36m17", {"Prediction": pose}, "h36m17", (400, 300)))
    assert [f.shape for f in frames] == [(300, 400 + 300, 3)] * 3  # 2-D panel at the input's aspect + a square
    panel = [f[:, 400:].astype(int) for f in frames]
    assert np.abs(panel[0] - panel[1]).sum() > 0 and np.array_equal(panel[0], panel[2])
    left = [f[:, :400].astype(int) for f in frames]
    assert np.abs(left[0] - left[1]).sum() > 0  # the 2-D skeleton and the frame counter moved


def test_one_frame_reports_no_bone_spread(tmp_path, capsys):
    """One frame has no frame-to-frame spread: the summary says so instead of 'vary by up to 0.0 cm'."""
    kp = _frames_json(tmp_path / "photo.json", T=1, gaps=())
    assert main(["infer", str(kp), "--checkpoint", str(_bin(tmp_path / "tiny_coco.bin")), "--out",
                 str(tmp_path / "out"), "--render", "none", "--joint-threshold", "0"]) == 0
    out = capsys.readouterr().out
    assert "one frame: bone lengths as lifted" in out and "vary by up to" not in out
    assert "2-D fixes" not in out  # nothing to clean in one frame
