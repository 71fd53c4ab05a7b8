"""VideoPose3D's own ``run.py`` as a benchmark baseline: find it, feed it a store, run it, read its table.

``benchmarks/whole_job.py --reference DIR`` uses this module; ``DIR`` is a clone of
https://github.com/facebookresearch/VideoPose3D (nothing of it is copied into poseact, and its
files are never changed). The reference runs with poseact's interpreter (torch 2, numpy 2) as it
is: it needs no compatibility shim there (checked with torch 2.13 CPU, numpy 2.x).

* :func:`reference_cameras` reads the Human3.6M calibration hard-coded in the clone's
  ``common/h36m_dataset.py`` (as literals, with ``ast``: no code of the clone runs in this
  process), and :func:`check_cameras` compares it with poseact's table, which the synthetic store
  is rendered with and :func:`poseact.convert.npz_export.export_h36m_npz` checks the store against:
  ``run.py`` takes its cameras from that table, so both programs see the same cameras only if
  the two tables agree;
* :func:`export_store` writes the store as ``data/data_3d_h36m.npz`` + ``data/data_2d_h36m_poseact.npz``
  (once per store, cached next to it);
* :func:`command` is the ``run.py`` command line, run in a folder whose ``data`` links to the
  export (``run.py`` reads ``data/…`` relative to its working directory);
* :func:`parse_output` reads the action-wise averages it prints at the end (Protocol #1, #2, #3,
  velocity) and the per-epoch lines (``[epoch] time <minutes> … 3d_valid <mm>``).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np

#: the detection name of the exported 2-D file (``run.py -k poseact``)
KEYPOINTS = "poseact"


def check_clone(folder: Path) -> Path:
    """``folder`` if it holds VideoPose3D's ``run.py`` and ``common/``; SystemExit saying what is missing."""
    folder = folder.expanduser().resolve()
    missing = [p for p in ("run.py", "common/h36m_dataset.py", "common/generators.py") if not (folder / p).is_file()]
    if missing:
        raise SystemExit(f"--reference {folder}: not a VideoPose3D clone (missing {', '.join(missing)}); "
                         f"git clone https://github.com/facebookresearch/VideoPose3D {folder}")
    return folder


def clone_commit(folder: Path) -> str:
    """The clone's commit (``git rev-parse HEAD``), or a note that it is not a git checkout."""
    import subprocess

    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown commit (not a git checkout)"


def reference_cameras(folder: Path) -> tuple[list[dict], dict[str, list[dict]]]:
    """(intrinsic list, subject -> extrinsic list) as written in ``common/h36m_dataset.py``."""
    tree = ast.parse((folder / "common/h36m_dataset.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("h36m_cameras_intrinsic_params", "h36m_cameras_extrinsic_params"):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    return found["h36m_cameras_intrinsic_params"], found["h36m_cameras_extrinsic_params"]


def check_cameras(folder: Path, subjects: list[str]) -> float:
    """Largest difference between the clone's H36M cameras and poseact's for ``subjects`` (pixels,
    millimetres, quaternion units); SystemExit if any exceeds 1e-3 or a camera is missing."""
    from poseact.geometry import h36m_cameras

    intrinsic, extrinsic = reference_cameras(folder)
    ours = h36m_cameras()
    worst = 0.0
    for subject in subjects:
        if subject not in extrinsic:
            raise SystemExit(f"subject {subject} has no cameras in {folder}/common/h36m_dataset.py")
        for i, (cal, k, e) in enumerate(zip(ours[subject], intrinsic, extrinsic[subject])):
            if cal.id != k["id"] or (cal.res_w, cal.res_h) != (k["res_w"], k["res_h"]):
                raise SystemExit(f"camera {i} of {subject}: poseact {cal.id} {cal.res_w}x{cal.res_h}, "
                                 f"VideoPose3D {k['id']} {k['res_w']}x{k['res_h']}")
            a = np.concatenate([cal.focal_length, cal.center, cal.radial_distortion, cal.tangential_distortion,
                                cal.orientation, np.asarray(cal.translation) * 1000])
            b = np.concatenate([k["focal_length"], k["center"], k["radial_distortion"], k["tangential_distortion"],
                                e["orientation"], e["translation"]])
            worst = max(worst, float(np.abs(a - b).max()))
    if worst > 1e-3:
        raise SystemExit(f"poseact's Human3.6M cameras differ from VideoPose3D's by {worst:.3g}: the two programs "
                         f"would not see the same data")
    return worst


def export_store(store_path: Path, folder: Path) -> Path:
    """``folder/data`` holding the store as VideoPose3D's two files (written once; reused after)."""
    from poseact.convert.npz_export import export_h36m_npz
    from poseact.store import open_store

    data = folder / "data"
    files = [data / "data_3d_h36m.npz", data / f"data_2d_h36m_{KEYPOINTS}.npz"]
    if not all(f.exists() and f.stat().st_mtime >= store_path.stat().st_mtime for f in files):
        export_h36m_npz(open_store(store_path, arrays=["pose3d_world", "pose3d"]), data, KEYPOINTS)
    return data


def command(folder: Path, flags: list[str], checkpoint_dir: Path) -> list[str]:
    """``python run.py -d h36m -k poseact <flags> -c <checkpoint_dir>`` (run it where ``data/`` is)."""
    return [sys.executable, str(folder / "run.py"), "-d", "h36m", "-k", KEYPOINTS, *flags, "-c", str(checkpoint_dir)]


_FINAL = {
    "p1": r"Protocol #1 +\(MPJPE\) action-wise average: +([\d.]+) mm",
    "p2": r"Protocol #2 \(P-MPJPE\) action-wise average: +([\d.]+) mm",
    "n_mpjpe": r"Protocol #3 \(N-MPJPE\) action-wise average: +([\d.]+) mm",
    "mpjve": r"Velocity +\(MPJVE\) action-wise average: +([\d.]+) mm",
}
_EPOCH = re.compile(r"^\[(\d+)\] time ([\d.]+) lr [\d.e-]+ .*?3d_valid ([\d.]+)", re.M)


def parse_output(text: str) -> dict:
    """Final action-wise metrics (mm, as printed: P1/P2/N-MPJPE to 0.1, MPJVE to 0.01) and the
    per-epoch minutes and validation MPJPE (mm); KeyError naming what is missing."""
    out: dict = {}
    for key, pattern in _FINAL.items():
        m = re.search(pattern, text)
        if m is None:
            raise KeyError(f"run.py's output has no line matching {pattern!r}")
        out[key] = float(m.group(1))
    epochs = _EPOCH.findall(text)
    out["epoch_minutes"] = [float(t) for _, t, _ in epochs]
    out["val_p1"] = [float(v) for _, _, v in epochs]
    return out
