"""The layer order of docs/architecture.md holds: ``lint-imports`` (import-linter) checks the
contracts in pyproject.toml — no upward import, families independent, no Lightning in the data
layers. An import that breaks them fails CI here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "2 kept" in run.stdout, run.stdout[-2000:]


def test_help_and_data_scripts_start_without_torch_or_lightning():
    """``poseact --help`` and the data_prep scripts' argument parsing import neither torch nor
    Lightning (they would cost seconds before the first line of output)."""
    probe = ("import runpy, sys\n"
             "sys.argv = [sys.argv[1], '--help']\n"
             "try:\n"
             "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pytorch_lightning', 'lightning'))\n"
             "print('HEAVY', heavy)\n")
    scripts = [REPO / "src/poseact/__main__.py", *sorted((REPO / "data_prep").glob("prepare_*.py"))]
    for script in scripts:
        run = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True, timeout=120)
        assert "HEAVY []" in run.stdout, (script.name, run.stdout[-500:], run.stderr[-1500:])
