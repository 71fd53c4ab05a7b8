"""The C allocator of a training process: keep freed activation memory instead of handing it back.

glibc ``malloc`` serves large blocks (above a threshold that starts at 128 KiB) with ``mmap`` and
returns them with ``munmap``, and trims the top of the heap whenever more than ~128 KiB is free. A
training step allocates and frees the same activations every step (at batch 1024 of the 27-frame,
256-channel lifter: blocks up to ~28 MB), so every step page-faults them in again and the kernel
zeroes them: ~6,000 minor faults a step at batch 1024, ~300 at batch 64 (``benchmarks/compute_floor.py``
counts them). :func:`keep_freed_memory` raises both thresholds (``mallopt``) so freed blocks are
reused: a handful of faults a step. Numbers are unchanged (only where memory comes from); the peak
RSS grows a little (measured +3 to +17 MB on a 0.7 GB whole job: freed blocks kept below the
thresholds are not handed back), and memory freed after the peak is not returned until the process
exits. Only the ``poseact`` program itself calls it, never ``cli.main([...])`` inside another process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False (and nothing changed) where the
    C library is not glibc (macOS, musl, Windows) or refuses."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
