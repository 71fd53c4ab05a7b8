"""Training windows gathered from flat frame arrays in one vectorised operation.

Sequences are *views* of a store's flat arrays: sequence ``s`` has frames
``base[s] + step[s] * j`` for ``j in [0, length[s])`` (``step > 1`` is temporal downsampling,
``base`` past the clip start is a subset window), so subsets and downsampling never copy data.

A lifter says what one training example is with a :class:`Windowing`: ``frames_out`` consecutive
output frames starting at position ``p``, read from input positions ``p - before ...
p + frames_out - 1 + after``, clamped to the sequence (edge replication, exactly as VideoPose3D's
generators pad). The temporal-convolution lifter has one output frame and ``pad`` frames of context
each side (shifted into the past when causal); a seq2seq lifter (MixSTE) reads and predicts a clip
of ``T`` frames, examples ``stride`` frames apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided


@dataclass(frozen=True)
class Windowing:
    """The window geometry of a lifter's training examples (see the module docstring)."""

    before: int  # input frames before the first output frame
    after: int  # input frames after the last output frame
    frames_out: int = 1  # consecutive output frames per example
    stride: int = 1  # positions between the first output frames of consecutive examples

    @classmethod
    def centred(cls, pad: int, causal_shift: int = 0) -> "Windowing":
        """One output frame with ``pad`` frames of context each side, ``causal_shift`` into the past."""
        return cls(pad + causal_shift, pad - causal_shift)

    @classmethod
    def of(cls, model, stride: int | None = None) -> "Windowing":
        """What a lifter reads (its ``pad``, ``causal_shift``, ``frames_out``); ``stride`` between
        examples, default one example per frame for one output frame, non-overlapping clips else."""
        frames_out = int(getattr(model, "frames_out", 1))
        return cls(model.pad + model.causal_shift, model.pad - model.causal_shift, frames_out,
                   stride or frames_out)

    @property
    def frames_in(self) -> int:
        return self.before + self.frames_out + self.after


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

    def samples(self, frames_out: int = 1, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The examples: ``(sequence index, first output position)`` arrays.

        One output frame, stride 1: every frame (``num_frames`` examples). Else clips of
        ``frames_out`` frames starting every ``stride`` frames, and where that leaves the end of a
        sequence uncovered, one more clip ending at its last frame; a sequence shorter than a clip
        gives one clip from its start (its end edge-replicated, see :attr:`WindowDataset.valid`)."""
        if frames_out == 1 and stride == 1:
            seq = np.repeat(np.arange(len(self), dtype=np.int64), self.length)
            starts = np.concatenate([[0], np.cumsum(self.length)[:-1]]).astype(np.int64)
            pos = np.arange(self.num_frames, dtype=np.int64) - np.repeat(starts, self.length)
            return seq, pos
        seqs, poss = [], []
        for s, n in enumerate(self.length.tolist()):
            starts = list(range(0, max(n - frames_out, 0) + 1, stride))
            if starts[-1] + frames_out < n:
                starts.append(n - frames_out)
            seqs.append(np.full(len(starts), s, np.int64))
            poss.append(np.asarray(starts, np.int64))
        return np.concatenate(seqs), np.concatenate(poss)


def window_rows(views: SequenceViews, seq: np.ndarray, pos: np.ndarray, window: Windowing) -> np.ndarray:
    """Flat-array rows ``(B, frames_in)`` of the input windows of ``(seq, pos)`` examples; positions
    outside a sequence are clamped to its first/last frame (edge replication)."""
    offsets = np.arange(-window.before, window.frames_out + window.after, dtype=np.int64)
    positions = np.clip(pos[:, None] + offsets[None, :], 0, views.length[seq][:, None] - 1)
    return views.base[seq][:, None] + views.step[seq][:, None] * positions


def gather_windows(array: np.ndarray, views: SequenceViews, seq: np.ndarray, pos: np.ndarray,
                   window: Windowing) -> np.ndarray:
    """Input windows ``(B, frames_in, ...)`` of ``array (N, ...)`` for ``(seq, pos)`` examples.

    Same result as ``array[window_rows(...)]``, faster: windows inside a sequence of step 1 are
    consecutive rows, so they are copied as blocks out of a zero-copy sliding view (one index
    per sample instead of one per frame); the few that overhang a sequence end (or lie in a
    downsampled sequence) are gathered row by row with edge replication.
    """
    width = window.frames_in
    if len(array) < width:
        return array[window_rows(views, seq, pos, window)]
    start = views.base[seq] + pos - window.before
    inside = (views.step[seq] == 1) & (pos >= window.before) & (pos - window.before + width <= views.length[seq])
    sliding = as_strided(array, shape=(len(array) - width + 1, width, *array.shape[1:]),
                         strides=(array.strides[0], *array.strides), writeable=False)
    out = sliding[np.where(inside, start, 0)]
    edge = np.flatnonzero(~inside)
    if len(edge):
        out[edge] = array[window_rows(views, seq[edge], pos[edge], window)]
    return out


def padded_positions(length: int, before: int, after: int) -> np.ndarray:
    """Frame positions ``(before + length + after,)`` of a whole sequence padded for evaluation:
    ``before`` copies of the first frame, the sequence, ``after`` copies of the last, so a lifter's
    sequence form outputs exactly ``length`` frames (VideoPose3D's unchunked evaluation)."""
    return np.clip(np.arange(-before, length + after), 0, length - 1)


def sequence_rows(views: SequenceViews, s: int, before: int, after: int) -> np.ndarray:
    """Flat-array rows of sequence ``s`` padded as :func:`padded_positions`."""
    return views.base[s] + views.step[s] * padded_positions(int(views.length[s]), before, after)


def pad_sequence(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """A whole sequence ``(T, ...)`` padded as :func:`padded_positions`: ``(before + T + after, ...)``."""
    return x[padded_positions(len(x), before, after)]


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
