"""Lifting datasets: 2-D windows → 3-D targets, drawn from a :class:`PoseStore` without copies.

:class:`LiftingArrays` normalises keypoints as windows and sequences are read (the store's arrays,
read or memory-mapped, are never changed); :func:`select_sequences`
turns subject/action filters, subsets and downsampling into :class:`SequenceViews`;
:class:`WindowDataset` serves training batches (one vectorised gather per batch) and
:class:`SequenceDataset` whole padded sequences for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from poseact.errors import SelectionError
from poseact.geometry import flip_intrinsics, mirror_points
from poseact.lifting.windows import SequenceViews, Windowing, gather_windows, sequence_rows, subset_window
from poseact.skeleton import get_skeleton
from poseact.lifting.config import DataConfig
from poseact.store import PoseStore, open_store
from poseact.store.mapping import FAULT_AROUND_BYTES, release_rows


@dataclass
class LiftingArrays:
    """A store's arrays as a lifter reads them (shared by every dataset made from it).

    The store's arrays are never modified — they may be memory-mapped from the file — so the 2-D
    stays in pixels in the store, and every window or sequence read through :meth:`windows` /
    :meth:`sequence` comes back normalised to screen units, with the reference's arithmetic
    (divide by the width and double in float32, subtract ``1`` and ``h / w`` in float64, store as
    float32: the same bits as normalising the whole array first). ``intrinsics (C, 9)`` are
    normalised per camera row; ``flip_2d`` / ``flip_3d`` are the layouts' mirror permutations.
    """

    store: PoseStore
    use_confidence: bool
    intrinsics: np.ndarray
    flip_2d: np.ndarray
    flip_3d: np.ndarray

    @classmethod
    def from_store(cls, store: PoseStore, use_confidence: bool = False) -> "LiftingArrays":
        if store.partial:
            raise SelectionError(f"store {store.path!r} is partial (NaN marks joints its annotation lacks: an "
                                 f"image dataset for the multitask task); lifting needs complete 2-D inputs")
        if use_confidence and store.confidence is None:
            raise SelectionError(f"store {store.path!r} has no frames/confidence but data.use_confidence is set")
        return cls(store=store, use_confidence=use_confidence, intrinsics=store.cameras.normalized_intrinsics(),
                   flip_2d=get_skeleton(store.layout_2d).flip_permutation(),
                   flip_3d=get_skeleton(store.layout_3d).flip_permutation())

    @property
    def num_joints_in(self) -> int:
        return self.store.keypoints.shape[1]

    @property
    def in_features(self) -> int:
        return 3 if self.use_confidence else 2

    def _inputs(self, pixels: np.ndarray, confidence: np.ndarray | None, cameras: np.ndarray) -> np.ndarray:
        """Gathered ``pixels (B, ..., J, 2)`` (a fresh array) of camera rows ``cameras (B,)`` →
        normalised float32 ``(B, ..., J, F)``, with the confidence as a third feature if used."""
        res = self.store.cameras.res[cameras]  # (B, 2) int64
        shape = (len(cameras),) + (1,) * (pixels.ndim - 1)
        width = res[:, 0].astype(np.float32).reshape(shape)
        np.divide(pixels, width, out=pixels)
        np.multiply(pixels, np.float32(2), out=pixels)
        np.subtract(pixels[..., 0], np.float64(1.0), out=pixels[..., 0], casting="same_kind")
        offset = (res[:, 1].astype(np.float64) / res[:, 0].astype(np.float64)).reshape(shape[:-1])
        np.subtract(pixels[..., 1], offset, out=pixels[..., 1], casting="same_kind")
        if confidence is None:
            return pixels
        return np.concatenate([pixels, confidence[..., None]], axis=-1)

    def windows(self, views: SequenceViews, seq: np.ndarray, pos: np.ndarray, window: Windowing) -> np.ndarray:
        """Normalised input windows ``(B, frames_in, J, F)`` of examples ``(seq, pos)`` (see
        :func:`~poseact.lifting.windows.gather_windows`)."""
        pixels = gather_windows(self.store.keypoints, views, seq, pos, window)
        conf = gather_windows(self.store.confidence, views, seq, pos, window) if self.use_confidence else None
        return self._inputs(pixels, conf, self.store.clips.camera[views.clip[seq]])

    def sequence(self, views: SequenceViews, s: int, before: int, after: int) -> np.ndarray:
        """Normalised inputs ``(before + T + after, J, F)`` of sequence ``s``, edge-padded."""
        rows = sequence_rows(views, s, before, after)
        conf = self.store.confidence[rows][None] if self.use_confidence else None
        camera = self.store.clips.camera[views.clip[s:s + 1]]
        return self._inputs(self.store.keypoints[rows][None], conf, camera)[0]


def _match_actions(store: PoseStore, actions: Sequence[str] | None) -> np.ndarray:
    """Action ids whose group name starts with any of ``actions`` (reference ``--actions``)."""
    if not actions:
        return np.arange(len(store.actions))
    ids = [i for i, name in enumerate(store.actions) if any(name.startswith(a) for a in actions)]
    unmatched = [a for a in actions if not any(name.startswith(a) for name in store.actions)]
    if unmatched:
        raise SelectionError(f"store {store.path!r}: action filter {unmatched} matches no action; "
                             f"actions are {store.actions}")
    return np.asarray(ids, dtype=np.int64)


def select_sequences(
    store: PoseStore, subjects: Sequence[str], actions: Sequence[str] | None = None,
    subset: float = 1.0, downsample: int = 1, labeled: bool | None = None, what: str = "data",
) -> SequenceViews:
    """Sequences (clips) of ``subjects`` whose action matches, as views of the flat arrays.

    ``labeled=True`` keeps clips with 3-D only (an error names unlabeled ones), ``False`` keeps
    all and ignores 3-D. ``subset``/``downsample`` follow the reference (spec §5.7).
    """
    if not subjects:
        raise SelectionError(f"{what}: the subject list is empty")
    if not 0 < subset <= 1:
        raise SelectionError(f"{what}: subset must be in (0, 1], got {subset}")
    if downsample < 1:
        raise SelectionError(f"{what}: downsample must be >= 1, got {downsample}")
    present = set(store.clips.subject.tolist())
    missing = [s for s in subjects if s not in present]
    if missing:
        raise SelectionError(f"{what}: subjects {missing} are not in store {store.path!r} "
                             f"(it has {sorted(present)})")
    c = store.clips
    keep = np.isin(c.subject, list(subjects)) & np.isin(c.action, _match_actions(store, actions))
    if labeled:
        unlabeled = keep & ~store.labeled_clips()
        if unlabeled.any():
            i = int(np.flatnonzero(unlabeled)[0])
            raise SelectionError(f"{what}: clip {store.clip_name(i)} has no 3-D but is used as labeled data")
    rows = np.flatnonzero(keep)
    if not len(rows):
        raise SelectionError(f"{what}: subjects {list(subjects)} with actions {actions} select no clip")
    # order: subjects in the given order, then store order (as the reference's fetch)
    rank = {s: i for i, s in enumerate(subjects)}
    rows = rows[np.argsort([rank[s] for s in c.subject[rows]], kind="stable")]
    base, length = c.start[rows].copy(), c.length[rows].copy()
    if subset < 1:
        for i, n_frames in enumerate(length):
            start, n = subset_window(int(n_frames), subset, downsample)
            base[i] += start
            length[i] = n
    length = -(-length // downsample)  # ceil: [::downsample]
    views = SequenceViews(base=base, step=np.full(len(rows), downsample, np.int64), length=length, clip=rows)
    nonempty = views.length > 0
    if not nonempty.any():
        raise SelectionError(f"{what}: subset {subset} leaves no frames")
    return SequenceViews(*(a[nonempty] for a in (views.base, views.step, views.length, views.clip)))


class WindowDataset(Dataset):
    """Training examples of a lifter's :class:`~poseact.lifting.windows.Windowing` (one window per
    output frame for the temporal convolutions, one clip per ``stride`` frames for seq2seq models),
    optionally also mirrored (the dataset is doubled, as the reference's augmentation).

    ``__getitems__(indices)`` returns a whole batch from one gather: ``keypoints (B, frames_in, J2,
    F)``, ``pose3d (B, frames_out, J3, 3)`` root-relative metres (root joint 0), ``trajectory (B,
    frames_out, 1, 3)`` root in camera space, ``intrinsics (B, 9)``, and with several output frames
    ``valid (B, frames_out)`` (False on frames past a sequence's end, edge-replicated copies that a
    loss must not count).
    """

    def __init__(self, arrays: LiftingArrays, views: SequenceViews, window: Windowing, flip: bool = True,
                 with_3d: bool = True) -> None:
        self.arrays, self.views, self.window = arrays, views, window
        self.flip, self.with_3d = flip, with_3d
        self.seq, self.pos = views.samples(window.frames_out, window.stride)
        self.num_frames = len(self.seq)  # examples (output frames for one-frame windows)

    def __len__(self) -> int:
        return self.num_frames * (2 if self.flip else 1)

    def sample_actions(self) -> np.ndarray:
        """Action id ``(len(self),)`` of every sample (mirrored copies included)."""
        actions = self.arrays.store.clips.action[self.views.clip[self.seq]]
        return np.tile(actions, 2) if self.flip else actions

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}

    def __getitems__(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """One batch. Samples come back grouped, plain ones first, then mirrored ones (``flipped``
        says which): the order inside a batch does not matter for training, and grouping lets
        the mirrored half be fixed up with slices instead of masked copies."""
        idx = np.asarray(indices, dtype=np.int64)
        flipped = idx >= self.num_frames
        idx = idx[np.argsort(flipped, kind="stable")]
        n_plain = len(idx) - int(flipped.sum())
        frame = idx.copy()
        frame[n_plain:] -= self.num_frames
        seq, pos = self.seq[frame], self.pos[frame]
        a, v = self.arrays, self.views
        w = self.window
        keypoints = a.windows(v, seq, pos, w)  # (B, frames_in, J2, F) normalised
        intrinsics = a.intrinsics[a.store.clips.camera[v.clip[seq]]]  # (B, 9)
        batch = {"keypoints": keypoints, "intrinsics": intrinsics}
        if w.frames_out > 1:
            batch["valid"] = pos[:, None] + np.arange(w.frames_out) < v.length[seq][:, None]
        if self.with_3d:
            if w.frames_out == 1:
                pose = a.store.pose3d[v.base[seq] + v.step[seq] * pos][:, None]  # (B, 1, J3, 3)
            else:
                pose = gather_windows(a.store.pose3d, v, seq, pos, Windowing(0, 0, w.frames_out))
            batch["trajectory"] = pose[:, :, :1].copy()
            batch["pose3d"] = pose - pose[:, :, :1]
        if n_plain < len(idx):
            tail = slice(n_plain, None)
            keypoints[tail] = mirror_points(keypoints[tail], a.flip_2d)  # confidence (if any) follows its joint
            intrinsics[tail] = flip_intrinsics(intrinsics[tail])
            if self.with_3d:
                batch["pose3d"][tail] = mirror_points(batch["pose3d"][tail], a.flip_3d)
                batch["trajectory"][tail, ..., 0] *= -1
        out = {k: torch.from_numpy(v) for k, v in batch.items()}
        out["flipped"] = torch.from_numpy(np.arange(len(idx)) >= n_plain)
        out["index"] = torch.from_numpy(idx)  # the dataset indices, in batch order
        return out


class SequenceDataset(Dataset):
    """Whole sequences for evaluation, padded for the lifter's sequence form (one item per sequence):
    ``window.before`` edge frames before, ``window.after`` after, so its output covers every frame.

    Item: ``keypoints (before + T + after, J2, F)``, ``pose3d (T, J3, 3)`` root-relative or absent,
    ``trajectory (T, 1, 3)``, ``intrinsics (9,)`` and the clip's subject/action/take/camera names.
    """

    def __init__(self, arrays: LiftingArrays, views: SequenceViews, window: Windowing, with_3d: bool = True) -> None:
        self.arrays, self.views, self.window, self.with_3d = arrays, views, window, with_3d

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, s: int) -> dict:
        a, v, store = self.arrays, self.views, self.arrays.store
        clip = int(v.clip[s])
        item = {
            "keypoints": torch.from_numpy(a.sequence(v, s, self.window.before, self.window.after)),
            "intrinsics": torch.from_numpy(a.intrinsics[store.clips.camera[clip]].copy()),
            "subject": str(store.clips.subject[clip]), "action": store.actions[store.clips.action[clip]],
            "take": str(store.clips.take[clip]), "camera": str(store.cameras.name[store.clips.camera[clip]]),
            "index": s,
        }
        if self.with_3d:
            pose = store.pose3d[v.frame_rows(s)]
            item["trajectory"] = torch.from_numpy(pose[:, :1].copy())
            item["pose3d"] = torch.from_numpy(pose - pose[:, :1])
        # an evaluation reads each sequence once a pass, from copies: a mapped store's pages of it need not
        # stay in this process's resident memory (they fault back in from the page cache on the next pass).
        # A read also maps the pages around it (Linux's fault-around, 64 KB): those are released too.
        lo, hi = int(v.base[s]), int(v.base[s] + v.step[s] * (v.length[s] - 1)) + 1
        for arr in (store.keypoints, store.pose3d, store.confidence):
            if arr is not None:
                around = -(-FAULT_AROUND_BYTES // arr.strides[0])
                release_rows(arr, lo - around, hi + around)
        return item


class SemiSupervisedWindows(Dataset):
    """Labeled and unlabeled windows in one batch (labeled first), for one forward pass.

    ``__getitems__((labeled_indices, unlabeled_indices))`` returns the labeled batch of
    :class:`WindowDataset` with ``keypoints (B_l + B_u, RF, J2, F)`` and ``intrinsics
    (B_l + B_u, 9)`` extended by the unlabeled samples, and ``num_labeled = B_l``. The unlabeled
    dataset has no 3-D (``with_3d=False``): nothing of it can reach a 3-D loss.

    With ``instants`` (``ids (N,)`` the instant of every unlabeled window, ``multi`` which instants
    several cameras see: :func:`~poseact.lifting.multiview.instants`) the batch also holds, per
    unlabeled sample, ``unlabeled_group (B_u,)`` (its instant, -1 when no other view sees it or the
    window is mirrored) and ``unlabeled_rotation (B_u, 3, 3)`` (its camera's camera-to-world rotation),
    for the multi-view term.
    """

    def __init__(self, labeled: WindowDataset, unlabeled: WindowDataset,
                 instants: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if unlabeled.with_3d:
            raise ValueError("the unlabeled windows must be built with with_3d=False")
        self.labeled, self.unlabeled = labeled, unlabeled
        self.group = self.rotation = None
        if instants is not None:
            from poseact.lifting.multiview import rotation_matrices

            ids, multi = instants
            self.group = np.where(multi[ids], ids, -1)
            self.rotation = rotation_matrices(unlabeled.arrays.store.cameras.orientation)  # (C, 3, 3)

    def __len__(self) -> int:
        return len(self.labeled)

    def __getitems__(self, indices: tuple[np.ndarray, np.ndarray]) -> dict[str, torch.Tensor]:
        labeled_idx, unlabeled_idx = indices
        batch = self.labeled.__getitems__(labeled_idx)
        batch["num_labeled"] = len(labeled_idx)  # a Python int: reading it never waits for a device
        if len(unlabeled_idx):
            extra = self.unlabeled.__getitems__(unlabeled_idx)
            for key in ("keypoints", "intrinsics", "flipped", "valid"):
                if key in batch:
                    batch[key] = torch.cat([batch[key], extra[key]])
            batch["unlabeled_index"] = extra["index"]
            if self.group is not None:
                u = self.unlabeled
                index = extra["index"].numpy()
                frame = index % u.num_frames
                group = np.where(index < u.num_frames, self.group[frame], -1)
                camera = u.arrays.store.clips.camera[u.views.clip[u.seq[frame]]]
                batch["unlabeled_group"] = torch.from_numpy(group)
                batch["unlabeled_rotation"] = torch.from_numpy(self.rotation[camera])
        return batch


def check_intrinsics(arrays: LiftingArrays, views: SequenceViews, what: str) -> None:
    """Every selected clip must have camera intrinsics (needed to project predictions)."""
    missing = np.isnan(arrays.intrinsics[arrays.store.clips.camera[views.clip]]).any(axis=1)
    if missing.any():
        clip = int(views.clip[np.flatnonzero(missing)[0]])
        raise SelectionError(f"{what}: clip {arrays.store.clip_name(clip)} of store {arrays.store.path!r} has no "
                             f"camera intrinsics, which projecting its predictions needs "
                             f"(or set semi.weight_reprojection=0)")


def resolve_store_path(data: DataConfig) -> Path:
    """The configured store, or the cached synthetic store (generated on first use)."""
    if data.store is not None:
        return Path(data.store)
    from poseact.synthetic import synthetic_store

    return synthetic_store(data.synthetic)


def lifting_frame_arrays(data: DataConfig, with_3d: bool = True) -> list[str]:
    """The store arrays a lifter reads: the 3-D (camera space) and, if used, the confidence — not
    the world-space 3-D or anything of images."""
    return (["pose3d"] if with_3d else []) + (["confidence"] if data.use_confidence else [])


def load_arrays(data: DataConfig) -> LiftingArrays:
    """Open the configured store (only the arrays a lifter reads; mapped from the file with
    ``data.mmap``) and prepare it for lifting."""
    store = open_store(resolve_store_path(data), arrays=lifting_frame_arrays(data), mmap=data.mmap)
    return LiftingArrays.from_store(store, use_confidence=data.use_confidence)
