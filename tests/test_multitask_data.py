"""Rendered synthetic images, image store fields, clip sampling, crop augmentation, masked losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poseact.multitask.clips import AugmentConfig, ClipDataset, clip_frame_index, multi_clip_starts
from poseact.store import StoreError, open_store, write_store
from poseact.multitask.losses import action_loss, camera_space, pckh, pose_loss, root_aligned_error


@pytest.fixture(scope="module")
def image_store(tmp_path_factory):
    from poseact.synthetic.render import RenderConfig, rendered_store
    from poseact.synthetic import SyntheticConfig

    cfg = RenderConfig(SyntheticConfig(subjects=["S1"], actions=["Walking", "Sitting"], takes_per_action=1,
                                       seconds_per_take=2.0), size=64, frame_step=5, cameras=[0, 2])
    return rendered_store(cfg, tmp_path_factory.mktemp("images"))


def test_rendered_store_round_trip_and_people_in_the_crops(image_store):
    s = open_store(image_store)
    assert s.images is not None and s.images.shape[1:] == (64, 64, 3) and len(s.images) == s.num_frames
    assert len(s.clips) == 4 and sorted(s.actions) == ["Sitting", "Walking"]
    kp = s.keypoints
    assert np.allclose(kp[:, 0], 32.0, atol=1e-3)  # the root sits at the crop centre
    # the body differs from the background: pixels at the thorax vs the crop corner, per frame
    thorax = s.images[np.arange(len(kp)), kp[:, 8, 1].astype(int), kp[:, 8, 0].astype(int)].astype(float)
    corner = s.images[:, 0, 0].astype(float)
    assert np.abs(thorax - corner).sum(-1).mean() > 30


def test_store_rejects_bad_images(image_store, tmp_path):
    s = open_store(image_store)
    s.images = s.images[:, :, :, :2]
    with pytest.raises(StoreError, match="frames/images"):
        write_store(tmp_path / "bad.h5", s)


def test_clip_sampling_stretches_short_videos_and_slides():
    idx = clip_frame_index(5, 8, 3, None)
    assert len(idx) == 8 and idx.min() >= 0 and idx.max() <= 4 and len(set(idx)) < 8  # frames repeat
    idx = clip_frame_index(100, 8, 6, None)
    assert np.all(np.diff(idx) == 6) and idx[0] == (100 - 43) // 2  # centred
    assert multi_clip_starts(100, 8, 6)[:3] == [0, 9, 18]  # advance T/2 + k - 1 (TPAMI Penn: 9)


def test_augmented_targets_follow_the_pixels(image_store):
    s = open_store(image_store)
    # a synthetic frame: one bright dot at every joint, then check that the warped dots stay on the targets
    img = np.zeros_like(s.images)
    for n in range(len(img)):
        for u, v in s.keypoints[n].astype(int):
            img[n, v, u] = 255
    s.images = img
    aug = AugmentConfig(rotation=[20.0], scales=[1.2], shift_x=[3.0], shift_y=[-2.0], gammas=[1.0], flip=True)
    ds = ClipDataset(s, np.arange(len(s.clips)), 4, [1], augment=aug, length=3)
    for i in range(3):
        b = ds[i]
        frame = (b["frames"][0].mean(0) + 1) / 2  # (S, S) in [0, 1]
        uv = (b["pose"][0, :, :2] * 64).numpy()
        for u, v in uv[np.isfinite(uv).all(-1)]:
            patch = frame[max(int(v) - 2, 0):int(v) + 3, max(int(u) - 2, 0):int(u) + 3]
            assert patch.max() > 0.15, f"no dot near target ({u:.1f}, {v:.1f})"


def test_dataset_errors_name_the_problem(image_store):
    s = open_store(image_store)
    with pytest.raises(StoreError, match="no clips selected"):
        ClipDataset(s, np.array([], dtype=int), 8, [1])
    s.layout_2d = "coco17"
    with pytest.raises(StoreError, match="coco17"):
        ClipDataset(s, np.arange(2), 8, [1])
    s.images = None
    with pytest.raises(StoreError, match="no frames/images"):
        ClipDataset(s, np.arange(2), 8, [1])


def test_pose_loss_masks_nan_labels():
    pred = torch.rand(2, 3, 4, 4, requires_grad=True)
    target = torch.rand(2, 3, 4, 3)
    target[0, :, :, 2] = float("nan")  # 2-D-only sample
    target[1, :, 1] = float("nan")  # a joint outside the crop
    vis = torch.ones(2, 3, 4)
    loss = pose_loss(pred, target, vis)
    loss.backward()
    assert torch.isfinite(loss)
    g = pred.grad
    assert (g[0, :, :, 2] == 0).all() and (g[1, :, 1, :3] == 0).all()
    assert (g[0, :, :, :2] != 0).any() and (g[..., 3] != 0).all()  # visibility is trained everywhere (faithful)
    masked = torch.rand(2, 3, 4, 4, requires_grad=True)
    pose_loss(masked, target, vis, torch.zeros(2, 3, 4, dtype=torch.bool), mask_missing_visibility=True).backward()
    assert (masked.grad[..., 3] == 0).all()


def test_action_loss_skips_unlabelled_heads():
    logits = [torch.randn(3, 5, requires_grad=True), torch.randn(3, 7, requires_grad=True)]
    labels = torch.tensor([[1, -1], [-1, 6], [-1, -1]])
    action_loss(logits, labels).backward()
    assert logits[0].grad[1:].abs().sum() == 0 and logits[1].grad[[0, 2]].abs().sum() == 0
    assert action_loss([torch.randn(2, 5)], torch.tensor([[-1], [-1]])) == 0


def test_pckh_and_camera_space_round_trip():
    target = torch.tensor([[[0.5, 0.5], [0.6, 0.5], [float("nan"), 0.1]]])
    pred = torch.tensor([[[0.5, 0.5], [0.7, 0.5], [0.0, 0.0]]])
    hits, total = pckh(pred, target, torch.tensor([0.1]), torch.tensor([True, True, True]))
    assert (int(hits), int(total)) == (1, 2)  # 0.1 error > 0.5·0.1; NaN joint not counted
    # a pose projected with crop intrinsics comes back with zero error
    p3 = torch.tensor([[[0.1, 0.2, 4.0], [0.3, -0.1, 4.5], [-0.2, 0.4, 3.6]]])
    k = torch.tensor([[0.9, 0.9, 0.45, 0.55]])
    z = (p3[..., 2] - (p3[..., :1, 2] - 1)) / 2
    pred = torch.stack([k[:, None, 0] * p3[..., 0] / p3[..., 2] + k[:, None, 2],
                        k[:, None, 1] * p3[..., 1] / p3[..., 2] + k[:, None, 3], z], -1)
    back = camera_space(pred, k, p3[..., 0, 2])
    assert root_aligned_error(back, p3).item() < 1e-5
