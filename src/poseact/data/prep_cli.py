"""Shared plumbing of the ``data_prep/`` scripts (light: imports nothing heavy at module level)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def split_subjects(values: list[str] | None) -> list[str] | None:
    """``--subjects S1 S5`` and ``--subjects S1,S5`` both give ``["S1", "S5"]``."""
    if values is None:
        return None
    return [s for v in values for s in v.split(",") if s]


def default_output(data_2d: Path) -> Path:
    """``data/data_2d_h36m_cpn.npz`` → ``data/h36m_cpn.h5``."""
    return data_2d.with_name(data_2d.stem.removeprefix("data_2d_") + ".h5")


def convert_and_describe(prog: str, convert: Callable[[], Path]) -> int:
    """Run a conversion, print the store's summary; on bad input print the error, return 1."""
    from poseact.data.store import describe, open_store

    try:
        print(describe(open_store(convert())))
    except (ValueError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0
