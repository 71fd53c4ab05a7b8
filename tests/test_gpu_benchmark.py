"""``benchmarks/gpu.py`` runs where CI runs: its CPU fallback (``--quick``) goes through every
section (training, evaluation, SPNet, DDP) and prints a finite, positive rate in each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _rates(line: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"(\d[\d,]*\.?\d*)(?= (?:samples|frames)/s)", line)]


def test_gpu_benchmark_cpu_fallback_prints_every_section():
    r = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu.py"), "--quick"], capture_output=True, text=True,
                       timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "no GPU: CPU fallback" in out
    training = next(line for line in out.splitlines() if line.startswith("| 27 |") and "samples/s" in line)
    evaluation = next(line for line in out.splitlines() if line.startswith("| 27 |") and "frames/s" in line)
    for row in (training, evaluation):
        cells = [c.strip() for c in row.strip("|").split("|")]
        numbers = [float(c.split()[0].replace(",", "").rstrip("×")) for c in cells[1:] if c[:1].isdigit()]
        assert len(numbers) >= 3 and all(n > 0 for n in numbers), row
    spnet = next(line for line in out.splitlines() if line.startswith("multi-task SPNet"))
    assert len(_rates(spnet)) == 2 and all(x > 0 for x in _rates(spnet)), spnet
    assert "DDP: fewer than 2 GPUs here, not measured" in out
