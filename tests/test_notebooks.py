"""The notebooks run top to bottom (CI executes them; they are committed without outputs)."""

from __future__ import annotations

import os

import pytest

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


# 01 takes seconds; 02 trains (≈40 s) and 03 runs a 4-trial sweep (≈60 s): those two are slow
@pytest.mark.parametrize("path", [pytest.param(p, marks=[pytest.mark.slow] if not p.stem.startswith("01") else [])
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    """From another working directory than notebooks/ (the kernel starts in an empty folder)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs committed"
    os.environ.setdefault("WANDB_MODE", "disabled")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
