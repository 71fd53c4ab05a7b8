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
