"""Fill missing 2-D keypoints over time, and say what was filled.

A missing entry is NaN in ``keypoints (T, J, 2)``. Each joint is filled on its own by linear
interpolation between the nearest seen frames (VideoPose3D's custom-data rule, spec §5.5,
which holds the first/last seen value at the ends). Gaps of at most ``max_gap`` frames count as
*interpolated*; longer gaps are filled the same way but *flagged*: the report lists them, and
``poseact infer`` writes the flags beside the 3-D so nobody mistakes them for measurements.
Filled entries get confidence 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poseact.errors import NoPersonError


@dataclass
class GapReport:
    """What :func:`fill_gaps` did. Frame ranges are ``(first, last)`` inclusive."""

    frames: int
    empty_frames: int = 0                    # frames with no joint seen (no person)
    interpolated_entries: int = 0            # (frame, joint) pairs filled within max_gap
    flagged_ranges: list[tuple[int, int]] = field(default_factory=list)  # no-person runs > max_gap
    flagged_entries: int = 0

    def as_dict(self) -> dict:
        return {"frames": self.frames, "empty_frames": self.empty_frames,
                "interpolated_entries": self.interpolated_entries,
                "flagged_entries": self.flagged_entries,
                "flagged_frame_ranges": [list(r) for r in self.flagged_ranges]}

    def summary(self) -> str:
        s = (f"{self.empty_frames} of {self.frames} frames without a person, "
             f"{self.interpolated_entries} joint entries interpolated")
        if self.flagged_entries:
            s += f", {self.flagged_entries} in gaps longer than the limit (flagged: {self.flagged_ranges[:5]})"
        return s


#: a joint below this confidence, or outside the image, is unreliable (flagged in ``poseact infer``'s outputs)
JOINT_THRESHOLD = 0.3
#: a frame with fewer reliable joints than this fraction is flagged; a photo's pose is reported, not lifted
MIN_RELIABLE_FRACTION = 0.8

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` of each run of True in a 1-D mask."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def fill_gaps(keypoints: np.ndarray, confidence: np.ndarray, max_gap: int = 10,
              where: str = "keypoints") -> tuple[np.ndarray, np.ndarray, np.ndarray, GapReport]:
    """``(T, J, 2)`` with NaN → filled ``(T, J, 2)``, ``confidence (T, J)`` (0 where filled),
    ``flagged (T,)`` bool (frames inside over-long no-person runs) and a :class:`GapReport`."""
    T, J, _ = keypoints.shape
    missing = ~np.isfinite(keypoints).all(-1)
    report = GapReport(frames=T)
    empty = missing.all(1)
    if empty.all():
        raise NoPersonError(f"{where}: no person detected in any of its {T} frames")
    never = np.flatnonzero(missing.all(0))
    if len(never):
        raise NoPersonError(f"{where}: joints {never.tolist()} are never detected; cannot fill them")
    out = keypoints.astype(np.float32, copy=True)
    conf = np.where(missing, 0.0, confidence).astype(np.float32)
    frames = np.arange(T)
    long_gap = np.zeros((T, J), bool)
    for j in range(J):
        m = missing[:, j]
        if not m.any():
            continue
        for a, b in _runs(m):
            if b - a + 1 > max_gap:
                long_gap[a:b + 1, j] = True
        for c in range(2):
            out[m, j, c] = np.interp(frames[m], frames[~m], keypoints[~m, j, c])
    flagged = np.zeros(T, bool)
    for a, b in _runs(empty):
        if b - a + 1 > max_gap:
            report.flagged_ranges.append((a, b))
            flagged[a:b + 1] = True
    report.empty_frames = int(empty.sum())
    report.flagged_entries = int(long_gap.sum())
    report.interpolated_entries = int(missing.sum()) - report.flagged_entries
    return out, conf, flagged, report
