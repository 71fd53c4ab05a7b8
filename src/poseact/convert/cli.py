"""Shared plumbing of the ``data_prep/`` scripts (light: imports nothing heavy at module level)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def split_subjects(values: list[str] | None) -> list[str] | None:
    """``--subjects S1 S5`` and ``--subjects S1,S5`` both give ``["S1", "S5"]``."""
    if values is None:
        return None
    return [s for v in values for s in v.split(",") if s]


def default_output(data_2d: Path) -> Path:
    """``data/data_2d_h36m_cpn.npz`` → ``data/h36m_cpn.h5``."""
    return data_2d.with_name(data_2d.stem.removeprefix("data_2d_") + ".h5")


def convert_and_describe(prog: str, out: Path, convert: Callable[[], Path],
                         inputs: Sequence[Path | str | None] = ()) -> int:
    """Run a conversion behind poseact's error boundary (:func:`poseact.errors.run_cli`): the output
    is checked writable before any work and temporary files a killed earlier run left beside it are
    removed; the converters' counted skips print as warnings, then the store's summary. Bad input is
    one line and exit 2, Ctrl-C exit 130, and neither leaves a partial store behind (stores are
    written atomically). An ``--out`` that is one of the ``inputs`` is refused before any work, so
    a conversion never overwrites what it reads."""

    def command() -> int:
        import warnings

        from poseact.atomic import check_writable, remove_stale_temps
        from poseact.store import describe, open_store

        _not_an_input(out, inputs)
        check_writable(out, "--out")
        remove_stale_temps(Path(out).parent)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                path = convert()
            finally:
                for w in caught:  # the converters' counted skips and checks, one line each
                    print(f"{prog}: warning: {w.message}", file=sys.stderr)
        print(describe(open_store(path)))
        return 0

    from poseact.errors import run_cli

    return run_cli(prog, command)


def _not_an_input(out: Path, inputs: Sequence[Path | str | None]) -> None:
    """Refuse an output path that names one of the inputs (the same file by any path)."""
    import os

    from poseact.errors import UsageError

    for given in inputs:
        if given is None:
            continue
        src = Path(given)
        same = Path(out).resolve() == src.resolve()
        if not same and Path(out).exists() and src.exists():
            try:
                same = os.path.samefile(out, src)
            except OSError:
                same = False
        if same:
            raise UsageError(f"--out {str(out)!r} is the input {str(src)!r}: the conversion would overwrite "
                             f"what it reads; choose another --out")
    target = Path(out)
    if target.is_file() and target.stat().st_size:
        with open(target, "rb") as f:
            signature = f.read(8)
        if signature != b"\x89HDF\r\n\x1a\n":  # not a store (e.g. an input file inside an input folder)
            raise UsageError(f"--out {str(out)!r} exists and is not an HDF5 store: a conversion replaces only "
                             f"stores; choose another --out")


def add_image_options(parser, layout: str, left_right: bool = True) -> None:
    """Options shared by the image-dataset scripts: ``--layout``, ``--on-bad``, ``--left-right``."""
    parser.add_argument("--layout", choices=["h36m17", "mpii16"], default=layout,
                        help=f"joint layout of the store (default {layout}; see data_prep/README.md for the mappings)")
    parser.add_argument("--on-bad", choices=["error", "skip"], default="error",
                        help="bad input (missing/unreadable files, boxes outside the image, malformed records): "
                             "stop with an error naming it (default), or skip the item, counted in the summary")
    if left_right:
        parser.add_argument("--left-right", choices=["auto", "keep", "swap"], default="auto",
                            help="the dataset's left/right labels (spec §10 quirk 6): auto = decided from the "
                                 "data (default; the check is in the store's notes), keep, or swap (deephar)")
