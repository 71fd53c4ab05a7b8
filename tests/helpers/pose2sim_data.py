"""The pose2sim development recordings for tests: fetched once (data_prep/fetch_pose2sim.py, a PyPI
wheel download into poseact's cache), then read from data/pose2sim/ in the repository."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def recording(name: str = "Demo_Batch/Trial_1") -> Path:
    """The folder of one development recording (``videos/cam0N.mp4``, ``calibration/Calib.qca.txt``)."""
    spec = importlib.util.spec_from_file_location("fetch_pose2sim", REPO / "data_prep" / "fetch_pose2sim.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fetch(REPO / "data" / "pose2sim", [name])[name]
