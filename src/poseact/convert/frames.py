"""Shared plumbing of the image-dataset converters (MPII, Penn Action, NTU RGB+D, Human3.6M frames).

* :class:`BadInput` — every problem with the input goes through it: an error naming the file and item
  (``on_bad="error"``, the default), or with ``on_bad="skip"`` a skip that is counted per reason,
  logged as a :class:`ConversionWarning` and written to the store's ``notes``. Documented skips
  (items the dataset itself leaves unlabeled: MPII test images, NTU files without a skeleton) are
  always counted the same way, never silent.
* :func:`image_ref` — file paths relative to the store's folder (``frames/image_ref``).
* :func:`check_boxes` — person boxes must overlap their image.
* :func:`left_right_decision` — spec §10 quirk 6: whether a dataset's "left" is the person's left,
  decided from the data (``auto``) or forced (``keep`` / ``swap``).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from poseact.convert.npz import ConversionError, ConversionWarning, InputNotFoundError, PathLike
from poseact.geometry.boxes import box_window, window_inside

ON_BAD = ("error", "skip")
LEFT_RIGHT = ("auto", "keep", "swap")


class BadInput:
    """Counts skipped items per reason; raises on bad input unless ``on_bad == "skip"``.

    Args:
        dataset: name used in messages; ``on_bad``: ``"error"`` or ``"skip"``.
    """

    def __init__(self, dataset: str, on_bad: str = "error") -> None:
        if on_bad not in ON_BAD:
            raise ConversionError(f"on_bad must be one of {ON_BAD}, got {on_bad!r}")
        self.dataset, self.on_bad = dataset, on_bad
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.notes: list[str] = []

    def bad(self, reason: str, message: str) -> None:
        """Bad input: raise :class:`ConversionError` (``message`` names file and item), or count a skip."""
        if self.on_bad == "error":
            raise ConversionError(f"{message} (pass on_bad='skip' / --on-bad skip to skip such items, counted)")
        self.skip(reason, message)

    def skip(self, reason: str, example: str) -> None:
        """A counted skip (documented in data_prep/README.md); the first example is kept."""
        self.counts[reason] += 1
        self.examples.setdefault(reason, example)

    def boxes_outside(self, boxes: np.ndarray, width: int, height: int, reason: str, where) -> bool:
        """Whether a person box ``(K, 4)`` misses the ``width`` × ``height`` image (then reported as bad
        input, ``where(k)`` naming box ``k``'s item); the caller skips the item when True."""
        k = check_boxes(boxes, width, height)
        if k < 0:
            return False
        self.bad(reason, f"{where(k)}: person box {np.round(boxes[k], 1).tolist()} lies outside the image "
                         f"{width}x{height}")
        return True

    def note(self, line: str) -> None:
        """A line for the store's ``notes`` (checks, decisions)."""
        self.notes.append(line)

    def summary(self) -> list[str]:
        """Notes plus one line per skip reason: ``skipped N <reason> (first: ...)``."""
        return self.notes + [f"skipped {n} {reason} (first: {self.examples[reason]})"
                             for reason, n in sorted(self.counts.items())]

    def warn(self) -> None:
        """Log the skips (one :class:`ConversionWarning` per reason)."""
        for reason, n in sorted(self.counts.items()):
            warnings.warn(f"{self.dataset}: skipped {n} {reason} (first: {self.examples[reason]})",
                          ConversionWarning, stacklevel=3)


def require_path(path: PathLike, what: str, is_dir: bool = False) -> Path:
    """``path`` as a Path; :class:`InputNotFoundError` if it is missing or of the wrong kind."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: {what} not found")
    if is_dir and not p.is_dir():
        raise ConversionError(f"{p}: {what} must be a folder")
    if not is_dir and not p.is_file():
        raise ConversionError(f"{p}: {what} must be a file, not a folder")
    return p


def image_ref(path: Path, out: PathLike) -> str:
    """``path`` relative to the folder of the store ``out`` (POSIX separators), as the loader resolves it."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(Path(out).parent))).as_posix()


def frame_paths(frame_dir: Path, pattern: str, indices, fields: dict) -> list[Path]:
    """The frame files of 0-based frame ``indices``: ``pattern`` formatted with ``frame`` (1-based),
    ``index`` (0-based) and ``fields``; a pattern naming another field is a ``ConversionError``."""
    try:
        return [frame_dir / pattern.format(frame=int(i) + 1, index=int(i), **fields) for i in indices]
    except (KeyError, IndexError, ValueError) as e:
        raise ConversionError(f"frame pattern {pattern!r} is invalid ({e!r}); fields: frame, index, "
                              f"{', '.join(fields)}") from None


def missing_files(paths: list[Path]) -> list[Path]:
    """The entries of ``paths`` that are not files."""
    return [p for p in paths if not p.is_file()]


def check_boxes(boxes: np.ndarray, width: int, height: int) -> int:
    """Index of the first finite box ``(K, 4)`` whose square window misses the image, or -1."""
    for i, b in enumerate(boxes):
        if np.isfinite(b).all() and not window_inside(box_window(b), width, height):
            return i
    return -1


def left_right_decision(mode: str, person_centric: int, checked: int, log: BadInput, how: str) -> bool:
    """Spec §10 quirk 6: whether to swap the dataset's left/right joint labels.

    Args:
        mode: ``auto`` (swap iff fewer than half of the checked frames are person-centric), ``keep``,
            ``swap`` (deephar's mapping for Penn Action and NTU).
        person_centric: checked frames whose labelled left side is the person's left; ``checked``: frames
            the check could judge; ``how``: what the check looked at (for the note).
    Returns:
        True to swap. The decision and the check's numbers go to the store's notes; a forced mode that
        the check contradicts (< 25 % agreement), or ``auto`` without a usable check, warns.
    """
    if mode not in LEFT_RIGHT:
        raise ConversionError(f"left_right must be one of {LEFT_RIGHT}, got {mode!r}")
    share = person_centric / checked if checked else float("nan")
    measured = (f"{share:.1%} of {checked} frames have the dataset's 'left' joints on the person's left ({how})"
                if checked else f"no frame could be checked ({how})")
    if mode == "auto":
        if checked:
            swap = share < 0.5
        else:
            swap = True
            warnings.warn(f"{log.dataset}: left/right could not be checked ({how}); using deephar's mapping "
                          f"(swap); force it with left_right='keep'/'swap'", ConversionWarning, stacklevel=3)
    else:
        swap = mode == "swap"
        agree = (1 - share) if swap else share
        if checked and agree < 0.25:
            warnings.warn(f"{log.dataset}: left_right={mode!r} contradicts the data: {measured}",
                          ConversionWarning, stacklevel=3)
    log.note(f"left/right: {mode} -> {'swap' if swap else 'keep'} the dataset's labels; check: {measured}")
    return swap
