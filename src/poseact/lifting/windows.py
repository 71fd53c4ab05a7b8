"""Receptive-field windows gathered from flat frame arrays in one vectorised operation.

Sequences are *views* of a store's flat arrays: sequence ``s`` has frames
``base[s] + step[s] * j`` for ``j in [0, length[s])`` (``step > 1`` is temporal downsampling,
``base`` past the clip start is a subset window), so subsets and downsampling never copy data.
A window for output position ``j`` covers positions ``j - pad - shift ... j + pad - shift``,
clamped to the sequence (edge replication), exactly as VideoPose3D's generators pad.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided


@dataclass
class SequenceViews:
    """Virtual sequences over flat frame arrays (all arrays ``(S,)``)."""

    base: np.ndarray  # int64, first frame row
    step: np.ndarray  # int64, frame stride (downsampling)
    length: np.ndarray  # int64, frames in the sequence
    clip: np.ndarray  # int64, row of the store's clip table

    def __len__(self) -> int:
        return len(self.base)

    @property
    def num_frames(self) -> int:
        return int(self.length.sum())

    def frame_rows(self, s: int) -> np.ndarray:
        """Flat-array rows of every frame of sequence ``s``."""
        return self.base[s] + self.step[s] * np.arange(self.length[s])

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """One sample per frame: ``(sequence index, position)`` arrays of length ``num_frames``."""
        seq = np.repeat(np.arange(len(self), dtype=np.int64), self.length)
        starts = np.concatenate([[0], np.cumsum(self.length)[:-1]]).astype(np.int64)
        pos = np.arange(self.num_frames, dtype=np.int64) - np.repeat(starts, self.length)
        return seq, pos


def window_rows(views: SequenceViews, seq: np.ndarray, pos: np.ndarray, pad: int, causal_shift: int = 0,
                before: int | None = None, after: int | None = None) -> np.ndarray:
    """Flat-array rows of the windows around ``(seq, pos)`` samples: ``(B, before + after + 1)``.

    By default ``before = pad + causal_shift`` and ``after = pad - causal_shift`` frames; positions
    outside a sequence are clamped to its first/last frame (edge replication).
    """
    before = pad + causal_shift if before is None else before
    after = pad - causal_shift if after is None else after
    offsets = np.arange(-before, after + 1, dtype=np.int64)
    positions = np.clip(pos[:, None] + offsets[None, :], 0, views.length[seq][:, None] - 1)
    return views.base[seq][:, None] + views.step[seq][:, None] * positions


def gather_windows(array: np.ndarray, views: SequenceViews, seq: np.ndarray, pos: np.ndarray, pad: int,
                   causal_shift: int = 0) -> np.ndarray:
    """Windows ``(B, 2 * pad + 1, ...)`` of ``array (N, ...)`` around ``(seq, pos)`` samples.

    Same result as ``array[window_rows(...)]``, faster: windows inside a sequence of step 1 are
    consecutive rows, so they are copied as blocks out of a zero-copy sliding view (one index
    per sample instead of one per frame); the few that overhang a sequence end (or lie in a
    downsampled sequence) are gathered row by row with edge replication.
    """
    before, after = pad + causal_shift, pad - causal_shift
    width = before + after + 1
    if len(array) < width:
        return array[window_rows(views, seq, pos, pad, causal_shift)]
    start = views.base[seq] + pos - before
    inside = (views.step[seq] == 1) & (pos >= before) & (pos + after < views.length[seq])
    sliding = as_strided(array, shape=(len(array) - width + 1, width, *array.shape[1:]),
                         strides=(array.strides[0], *array.strides), writeable=False)
    out = sliding[np.where(inside, start, 0)]
    edge = np.flatnonzero(~inside)
    if len(edge):
        out[edge] = array[window_rows(views, seq[edge], pos[edge], pad, causal_shift)]
    return out


def padded_positions(length: int, pad: int, causal_shift: int = 0) -> np.ndarray:
    """Frame positions ``(length + 2 * pad,)`` of a whole sequence padded for the dilated model:
    ``pad + causal_shift`` copies of the first frame before, ``pad - causal_shift`` of the last after,
    so the model's output has exactly the sequence length (VideoPose3D's unchunked evaluation)."""
    return np.clip(np.arange(-pad - causal_shift, length + pad - causal_shift), 0, length - 1)


def sequence_rows(views: SequenceViews, s: int, pad: int, causal_shift: int = 0) -> np.ndarray:
    """Flat-array rows of sequence ``s`` padded as :func:`padded_positions`: ``(length + 2 * pad,)``."""
    return views.base[s] + views.step[s] * padded_positions(int(views.length[s]), pad, causal_shift)


def pad_sequence(x: np.ndarray, pad: int, causal_shift: int = 0) -> np.ndarray:
    """A whole sequence ``(T, ...)`` padded as :func:`padded_positions`: ``(T + 2 * pad, ...)``."""
    return x[padded_positions(len(x), pad, causal_shift)]


def deterministic_random(low: int, high: int, key: str) -> int:
    """VideoPose3D's hash-based integer in ``[low, high)``: SHA-256 of ``key``, first 4 bytes."""
    r = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "little")
    return int(r / (2**32 - 1) * (high - low)) + low


def subset_window(length: int, fraction: float, step: int) -> tuple[int, int]:
    """The reference's ``--subset`` rule: ``(start, n)`` frames kept of a sequence of ``length``.

    ``n = round((length // step) * fraction) * step`` (banker's rounding, as Python's ``round``),
    start chosen by :func:`deterministic_random` from the length, so all cameras of a take agree.
    """
    n = int(round((length // step) * fraction) * step)
    start = deterministic_random(0, length - n + 1, str(length))
    return start, n
