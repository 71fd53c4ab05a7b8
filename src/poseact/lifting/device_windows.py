"""Training windows gathered on the training device: the GPU path of :class:`WindowDataset`.

On a GPU the host-side gather (numpy, then a copy of every batch to the device) is the bottleneck
of a small lifter, and the training set is small (an H36M training set: ~1.6 M frames × (17 × 2 +
17 × 3) floats ≈ 0.55 GB). :class:`DeviceWindows` copies the frames of the selected sequences to
the device once — compacted, so subsets and downsampling cost nothing there — and builds every
batch from a tensor of sample indices with one indexing operation per array. The data loader then
only deals out index batches (:class:`IndexBatches`), and the data module turns them into batches
after they reach the device (``on_after_batch_transfer``).

A batch equals :meth:`WindowDataset.__getitems__` for the same indices, bit for bit on a CPU
(``tests/test_fast_paths.py``): same order (plain samples first, then mirrored ones), same
normalisation arithmetic (float32 scale, float64 offsets), same edge replication, mirroring and
``valid`` mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from poseact.geometry.camera import FLIP_INTRINSICS_SIGN
from poseact.lifting.datasets import WindowDataset

#: the key that marks a batch of indices still to be gathered on the device
GATHER = "gather_on_device"


class DeviceWindows:
    """The windows of a :class:`WindowDataset`, resident on ``device``.

    ``gather(index)`` → the dict of :meth:`WindowDataset.__getitems__` (``keypoints (B, frames_in,
    J2, F)`` normalised, ``pose3d`` / ``trajectory (B, frames_out, ., 3)`` metres, ``intrinsics (B, 9)``,
    ``flipped``, ``index``, and ``valid`` for several output frames) with every tensor on ``device``.
    """

    def __init__(self, dataset: WindowDataset, device: torch.device | str) -> None:
        self.dataset, self.device = dataset, torch.device(device)
        a, v = dataset.arrays, dataset.views
        store = a.store
        rows = np.concatenate([v.frame_rows(s) for s in range(len(v))])  # the used frames, in sequence order
        start = np.concatenate([[0], np.cumsum(v.length)[:-1]]).astype(np.int64)

        def put(x: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

        self.pixels = put(store.keypoints[rows])  # (F, J2, 2) float32 pixels
        self.confidence = put(store.confidence[rows]) if a.use_confidence else None
        self.pose3d = put(store.pose3d[rows]) if dataset.with_3d else None
        camera = store.clips.camera[v.clip]  # (S,) camera row of each sequence
        self.seq_start, self.seq_length = put(start), put(v.length.astype(np.int64))
        self.seq_width = put(store.cameras.res[camera, 0].astype(np.float32))
        self.seq_offset = put(store.cameras.res[camera, 1].astype(np.float64) / store.cameras.res[camera, 0])
        self.seq_intrinsics = put(a.intrinsics[camera])
        self.sample_seq, self.sample_pos = put(dataset.seq), put(dataset.pos)
        self.flip_2d, self.flip_3d = put(a.flip_2d), put(a.flip_3d)
        w = dataset.window
        self.in_offsets = torch.arange(-w.before, w.frames_out + w.after, device=self.device)
        self.out_offsets = torch.arange(w.frames_out, device=self.device)
        self.flip_intrinsics = torch.ones(9, device=self.device)  # signs that mirror a camera row
        self.flip_intrinsics[list(FLIP_INTRINSICS_SIGN)] = -1

    @property
    def nbytes(self) -> int:
        """Bytes of frame data held on the device."""
        return sum(t.numel() * t.element_size() for t in (self.pixels, self.confidence, self.pose3d) if t is not None)

    def _rows(self, seq: Tensor, pos: Tensor, offsets: Tensor) -> Tensor:
        positions = torch.minimum((pos[:, None] + offsets[None]).clamp_min(0), self.seq_length[seq][:, None] - 1)
        return self.seq_start[seq][:, None] + positions  # (B, frames)

    def gather(self, index: Tensor) -> dict[str, Tensor]:
        num_frames = self.dataset.num_frames
        index = index.to(self.device)
        order = torch.argsort((index >= num_frames).to(torch.int8), stable=True)  # plain first, as on the host
        index = index[order]
        flipped = index >= num_frames
        frame = torch.where(flipped, index - num_frames, index)
        seq, pos = self.sample_seq[frame], self.sample_pos[frame]
        rows = self._rows(seq, pos, self.in_offsets)
        x = self.pixels[rows]  # (B, frames_in, J2, 2) pixels, a fresh tensor
        shape = (-1, 1, 1)
        x = x / self.seq_width[seq].view(shape + (1,)) * 2  # float32, as the host path
        x = torch.stack([(x[..., 0].double() - 1.0).float(),
                         (x[..., 1].double() - self.seq_offset[seq].view(shape)).float()], dim=-1)
        if self.confidence is not None:
            x = torch.cat([x, self.confidence[rows][..., None]], dim=-1)
        intrinsics = self.seq_intrinsics[seq]
        batch: dict[str, Tensor] = {}
        frames_out = len(self.out_offsets)
        if frames_out > 1:
            batch["valid"] = pos[:, None] + self.out_offsets[None] < self.seq_length[seq][:, None]
        mirror = flipped.view(-1, 1, 1, 1)
        x = torch.where(mirror, _mirrored(x, self.flip_2d), x)
        intrinsics = torch.where(flipped[:, None], intrinsics * self.flip_intrinsics, intrinsics)
        batch.update(keypoints=x, intrinsics=intrinsics)
        if self.pose3d is not None:
            pose = self.pose3d[self._rows(seq, pos, self.out_offsets)]  # (B, frames_out, J3, 3)
            trajectory = pose[:, :, :1].clone()
            relative = pose - pose[:, :, :1]
            batch["pose3d"] = torch.where(mirror, _mirrored(relative, self.flip_3d), relative)
            trajectory_mirrored = trajectory.clone()
            trajectory_mirrored[..., 0] = -trajectory_mirrored[..., 0]
            batch["trajectory"] = torch.where(mirror, trajectory_mirrored, trajectory)
        batch["flipped"] = flipped
        batch["index"] = index
        return batch


def _mirrored(points: Tensor, swap: Tensor) -> Tensor:
    out = points[..., swap, :]
    out[..., 0] = -out[..., 0]
    return out


class IndexBatches(Dataset):
    """What the data loader deals out in the device path: the sample indices of a batch (labeled
    and, semi-supervised, unlabeled), gathered later by :class:`DeviceWindows`."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, indices: Sequence[int] | tuple[np.ndarray, np.ndarray]) -> dict:
        if isinstance(indices, tuple):  # (labeled, unlabeled) from the semi-supervised sampler
            labeled, unlabeled = (torch.as_tensor(np.asarray(i, dtype=np.int64)) for i in indices)
            return {GATHER: True, "index": labeled, "unlabeled_index": unlabeled, "num_labeled": len(labeled)}
        return {GATHER: True, "index": torch.as_tensor(np.asarray(indices, dtype=np.int64))}


def gather_batch(batch: dict, labeled: DeviceWindows, unlabeled: DeviceWindows | None) -> dict[str, Tensor]:
    """An index batch from :class:`IndexBatches` (already on the device) → the training batch, as
    :class:`~poseact.lifting.datasets.SemiSupervisedWindows` builds it on the host."""
    out = labeled.gather(batch["index"])
    if "num_labeled" not in batch:
        return out
    out["num_labeled"] = batch["num_labeled"]  # a Python int: no device-to-host copy to read it
    if len(batch["unlabeled_index"]) and unlabeled is not None:
        extra = unlabeled.gather(batch["unlabeled_index"])
        for key in ("keypoints", "intrinsics", "flipped", "valid"):
            if key in out:
                out[key] = torch.cat([out[key], extra[key]])
        out["unlabeled_index"] = extra["index"]
    return out
