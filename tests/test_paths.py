"""Working-directory independence: configs found from any folder, relative paths in config files
resolved against the repository (or the file), caches in one documented place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from poseact.paths import cache_dir, find_config, repository_root
from poseact.run.config import load_config


def test_configs_are_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert repository_root() == REPO
    assert find_config("configs/experiment/demo.yaml") == REPO / "configs/experiment/demo.yaml"
    assert find_config("experiment/demo.yaml") == REPO / "configs/experiment/demo.yaml"
    (tmp_path / "configs/experiment").mkdir(parents=True)
    (tmp_path / "configs/experiment/demo.yaml").write_text("task: lifting\nname: mine\n")
    assert find_config("configs/experiment/demo.yaml") == Path("configs/experiment/demo.yaml")  # the user's own first
    assert load_config("configs/experiment/demo.yaml").name == "mine"


def test_relative_paths_in_a_config_file_resolve_against_the_repository_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "configs/experiment/h36m_cpn_243.yaml")
    assert Path(cfg.data.store).is_absolute() and Path(cfg.data.store).parent == REPO / "data"
    own = tmp_path / "elsewhere" / "mine.yaml"  # a config outside any configs/ tree: its own folder
    own.parent.mkdir()
    own.write_text("task: lifting\ndata:\n  store: stores/a.h5\ncheckpoint: ${output_dir}/x.ckpt\n")
    cfg = load_config(own)
    assert cfg.data.store == str(own.parent / "stores/a.h5") and cfg.checkpoint.endswith("/x.ckpt")
    cfg = load_config(own, ["data.store=b.h5"])  # the command line: the working directory's
    assert cfg.data.store == "b.h5"


def test_caches_go_to_one_place(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEACT_CACHE", str(tmp_path / "cache"))
    assert cache_dir("synthetic") == tmp_path / "cache" / "synthetic"
    from poseact.synthetic.generator import SyntheticConfig

    assert SyntheticConfig().cache_dir == str(tmp_path / "cache" / "synthetic")
    monkeypatch.delenv("POSEACT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "poseact"


def test_the_cli_from_another_folder_writes_nothing_there(tmp_path):
    """``poseact data synthetic`` from an empty folder: the store goes to the cache, the folder stays empty."""
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {**os.environ, "POSEACT_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "poseact", "data", "synthetic", "data.synthetic.seconds_per_take=1.0",
                        "data.synthetic.subjects=[S1]", "data.synthetic.actions=[Walking]"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(cwd.iterdir()) == []
    assert len(list((tmp_path / "cache" / "synthetic").glob("synthetic-*.h5"))) == 1
