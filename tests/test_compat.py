"""Original VideoPose3D checkpoints load; poseact checkpoints export back to that format."""

import numpy as np
import pytest
import torch

from poseact.errors import CheckpointError
from poseact.lifting.checkpoint import infer_architecture, read_lifter_checkpoint, save_videopose3d_checkpoint
from poseact.lifting.models.temporal import TemporalLifter


def load_videopose3d_checkpoint(path, num_joints_in=None):
    """The one lifter-checkpoint reader, built into models: ``(pose, trajectory or None, {epoch, lr})``."""
    ckpt = read_lifter_checkpoint(path, num_joints_in=num_joints_in)
    pose, traj = ckpt.build()
    return pose, traj, {"epoch": ckpt.epoch, "lr": ckpt.lr}


def _original_file(path, widths=(3, 3, 3), channels=64, traj="none", drop_bn_counters=False, in_features=2):
    """Write a file shaped exactly like the reference's run.py checkpoints."""
    torch.manual_seed(1)
    pos = TemporalLifter(17, in_features, 17, list(widths), channels=channels)
    state = pos.state_dict()
    if drop_bn_counters:  # PyTorch 0.4 files (pretrained_h36m_cpn.bin) have no num_batches_tracked
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    opt = torch.optim.Adam(pos.parameters(), amsgrad=True)
    ckpt = {"epoch": 80, "lr": 1.7e-5, "random_state": np.random.RandomState(1234), "optimizer": opt.state_dict(),
            "model_pos": state, "random_state_semi": None,
            "model_traj": None if traj == "none" else TemporalLifter(17, in_features, 1, list(widths), channels=channels).state_dict()}
    if traj == "absent":
        del ckpt["model_traj"]
    torch.save(ckpt, path)
    return pos


@pytest.mark.parametrize("traj", ["none", "absent", "present"])
def test_loads_original_checkpoint_variants(tmp_path, traj):
    path = tmp_path / "epoch_80.bin"
    original = _original_file(path, traj=traj).eval()
    pose, trajectory, meta = load_videopose3d_checkpoint(path)
    assert meta == {"epoch": 80, "lr": 1.7e-5}
    assert (trajectory is not None) == (traj == "present")  # model_traj None = no trajectory (bug #191)
    x = torch.randn(2, 30, 17, 2)
    assert torch.equal(pose.eval()(x), original(x))


def test_loads_pytorch04_file_without_bn_counters_and_243_frames(tmp_path):
    path = tmp_path / "pretrained_like.bin"
    original = _original_file(path, widths=(3, 3, 3, 3, 3), drop_bn_counters=True).eval()
    pose, _, _ = load_videopose3d_checkpoint(path)
    assert pose.filter_widths == [3, 3, 3, 3, 3] and pose.receptive_field == 243
    x = torch.randn(1, 243, 17, 2)
    assert torch.equal(pose.eval()(x), original(x))


def test_architecture_inference_with_confidence_input(tmp_path):
    path = tmp_path / "d-pt.bin"
    _original_file(path, in_features=3)
    pose, _, _ = load_videopose3d_checkpoint(path, num_joints_in=17)
    assert (pose.num_joints_in, pose.in_features) == (17, 3)
    arch = infer_architecture(TemporalLifter(15, 2, 15, [3, 5, 3], channels=8).state_dict())
    assert (arch.num_joints_in, arch.num_joints_out, arch.filter_widths, arch.channels) == (15, 15, (3, 5, 3), 8)


def test_export_round_trip(tmp_path):
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=32).eval()
    path = save_videopose3d_checkpoint(tmp_path / "out.bin", model, epoch=3, lr=0.5)
    raw = torch.load(path, weights_only=False)
    assert set(raw) == {"epoch", "lr", "random_state", "optimizer", "model_pos", "model_traj", "random_state_semi"}
    assert raw["model_traj"] is None and raw["epoch"] == 3
    back, traj, _ = load_videopose3d_checkpoint(path)
    x = torch.randn(1, 27, 17, 2)
    assert traj is None and torch.equal(back.eval()(x), model(x))


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        load_videopose3d_checkpoint(tmp_path / "nope.bin")
    torch.save({"something": 1}, tmp_path / "other.bin")
    with pytest.raises(CheckpointError, match="not a poseact or VideoPose3D checkpoint"):
        load_videopose3d_checkpoint(tmp_path / "other.bin")
    (tmp_path / "junk.bin").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_videopose3d_checkpoint(tmp_path / "junk.bin")
