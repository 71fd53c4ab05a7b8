"""Memory-mapped frame arrays: read them without making them this process's resident memory.

A store opened with ``mmap`` is checked once, block by block (checksums, finite values,
degenerate frames). Reading a mapped page makes it part of the process's resident set until the
mapping goes away, so without help the checks alone would leave the whole file resident, and the
process's peak RSS would be the store's size even when training reads one subject of it.
:func:`release_rows` tells the kernel (``madvise(MADV_DONTNEED)``) that a block already checked is
not needed now: the pages stay in the OS page cache and fault back in, unchanged, when read again
(the mapping is read-only, so nothing is lost).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

_PAGE = mmap.PAGESIZE
#: how much a page fault maps around it (Linux's default fault_around_bytes): a read of some rows also makes
#: the pages up to this far around them resident, so a release after a read covers this margin too
FAULT_AROUND_BYTES = 65536


def release_rows(arr: np.ndarray, lo: int, hi: int) -> None:
    """Drop rows ``[lo, hi)`` of a memory-mapped array (the mapped array itself, as
    :func:`~poseact.store.io.open_store` returns it, not a slice of it) from this process's resident
    memory; a no-op for an array in memory, a writable or copy-on-write mapping, or where the platform
    lacks ``madvise`` (Windows; on macOS the kernel may keep the pages: it is advice)."""
    mapping = arr.base if isinstance(arr, np.memmap) else None
    # read-only mappings only: on a copy-on-write one ("c") the pages hold edits, which this would discard
    if not isinstance(mapping, mmap.mmap) or arr.mode != "r" or not hasattr(mmap, "MADV_DONTNEED") or arr.ndim == 0:
        return
    lo, hi = max(0, lo), min(len(arr), hi)
    if hi <= lo:
        return
    row = arr.strides[0]
    head = arr.offset % mmap.ALLOCATIONGRANULARITY  # where the array starts inside the mapping
    start = (head + lo * row) // _PAGE * _PAGE
    stop = min(len(mapping), -(-(head + hi * row) // _PAGE) * _PAGE)
    if stop > start:
        try:
            mapping.madvise(mmap.MADV_DONTNEED, start, stop - start)
        except OSError:  # advice only: a file system that refuses it keeps the pages resident, nothing else
            pass


def scan_blocks(num_rows: int, block: int, *arrays: np.ndarray | None) -> Iterator[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of ``block`` rows over ``num_rows``, for a check that reads ``arrays``
    block by block: once the caller is done with a block, its rows of every mapped array are released
    (:func:`release_rows`; None and in-memory arrays are left as they are)."""
    for lo in range(0, num_rows, block):
        hi = min(lo + block, num_rows)
        yield lo, hi
        for arr in arrays:
            release_rows(arr, lo, hi)
