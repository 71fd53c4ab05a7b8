"""Killed at a random point, nothing is left half-written and a rerun completes with the same result:
a conversion (SIGKILL; Ctrl-C), a fit (SIGKILL), a sweep (SIGKILL of its runner: no trial lives on)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, lifter_run_args

ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
RNG = np.random.default_rng(2026)  # the random kill points, reproducible


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".poseact-tmp-" in p.name]


@pytest.fixture(scope="module")
def h36m_npz(tmp_path_factory) -> tuple[Path, Path]:
    """A Human3.6M-format pair of files big enough that converting takes a few seconds."""
    d = tmp_path_factory.mktemp("big_h36m")
    rng = np.random.default_rng(0)
    world, views = {}, {}
    for s in ("S1", "S5", "S6", "S7", "S8"):
        world[s], views[s] = {}, {}
        for t in (f"Walking {i}" for i in range(1, 7)):
            n = 1500
            body = rng.uniform(-0.5, 0.5, (32, 3)).astype(np.float32)
            world[s][t] = body[None] + rng.normal(scale=0.01, size=(n, 32, 3)).astype(np.float32)
            views[s][t] = [rng.uniform(0, 1000, (n, 17, 2)).astype(np.float32) for _ in range(4)]
    np.savez(d / "data_3d_h36m.npz", positions_3d=world)
    np.savez(d / "data_2d_h36m_gt.npz", positions_2d=views, metadata={"num_joints": 17})
    return d / "data_3d_h36m.npz", d / "data_2d_h36m_gt.npz"


def _convert(files, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "data_prep/prepare_h36m.py"), "--data-3d", str(files[0]),
                             "--data-2d", str(files[1]), "--out", str(out)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _same_store(a: Path, b: Path) -> bool:
    from poseact.store import open_store

    x, y = open_store(a), open_store(b)
    return all(np.array_equal(getattr(x, k), getattr(y, k), equal_nan=True)
               for k in ("keypoints", "pose3d", "pose3d_world")) and list(x.clips.take) == list(y.clips.take)


@pytest.mark.slow
def test_a_killed_conversion_leaves_nothing_and_a_rerun_completes(h36m_npz, tmp_path):
    reference = tmp_path / "reference.h5"
    t0 = time.perf_counter()
    done = _convert(h36m_npz, reference)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    took = time.perf_counter() - t0
    out = tmp_path / "out" / "h36m.h5"
    for delay in RNG.uniform(0.15 * took, 0.9 * took, size=3):
        proc = _convert(h36m_npz, out)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not out.exists() or _same_store(out, reference), f"a partial store after a kill at {delay:.2f} s"
        rerun = _convert(h36m_npz, out)
        assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
        assert _same_store(out, reference) and not _temps(tmp_path / "out"), f"kill at {delay:.2f} s"
        out.unlink()


@pytest.mark.slow
def test_ctrl_c_stops_a_conversion_with_130_and_no_output(h36m_npz, tmp_path):
    t0 = time.perf_counter()  # an uncut conversion's length: the interrupts land inside it
    done = _convert(h36m_npz, tmp_path / "uncut.h5")
    assert done.wait(timeout=300) == 0, done.stderr.read()
    took = time.perf_counter() - t0
    out = tmp_path / "out" / "h36m.h5"
    for delay in RNG.uniform(0.3 * took, 0.8 * took, size=2):
        proc = _convert(h36m_npz, out)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, (delay, err[-2000:])
        assert "prepare_h36m.py: interrupted" in err and "Traceback" not in err, err[-2000:]
        if out.exists():  # the signal came after the store was committed (a loaded machine is slower to
            from poseact.store import open_store  # start the run than the uncut one was): whole, or nothing

            open_store(out)  # validates shapes and checksums: a complete store
            shutil.rmtree(tmp_path / "out")
        assert not (tmp_path / "out").exists(), f"output left after Ctrl-C at {delay:.2f} s"
        assert not list(tmp_path.rglob("*.poseact-tmp-*")), "temporary files left"


def _final(out: Path) -> dict:
    import csv

    with open(out / "results/test_per_action.csv") as f:
        return {row["action"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_a_fit_killed_at_random_times_resumes_to_the_same_metrics(tiny_synthetic, tmp_path):
    args = ["-m", "poseact", "fit", *lifter_run_args(tiny_synthetic, tmp_path / "straight", "model.channels=32",
                                                      "data.batch_frames=256", "trainer.max_epochs=3",
                                                      "data.subjects_train=[S1,S5]")]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], env=ENV, check=True, capture_output=True)
    took = time.perf_counter() - t0
    killed = [a.replace(str(tmp_path / "straight"), str(tmp_path / "killed")) for a in args]
    for delay in RNG.uniform(0.4 * took, 0.95 * took, size=2):
        proc = subprocess.Popen([sys.executable, *killed], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (tmp_path / "killed/checkpoints").exists():
            import torch

            for ckpt in (tmp_path / "killed/checkpoints").glob("*.ckpt"):  # whole, or not there at all
                torch.load(ckpt, weights_only=False)
    finished = subprocess.run([sys.executable, *killed], env=ENV, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert not _temps(tmp_path / "killed")
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "killed")
    for action in a:
        for metric in ("p1", "p2", "n_mpjpe", "mpjve"):
            assert float(a[action][metric]) == pytest.approx(float(b[action][metric]), rel=1e-5, abs=1e-4)


def _fits_of(folder: Path) -> list[int]:
    needle = str(folder).encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"fit" in cmd and needle in cmd:
            pids.append(int(entry.name))
    return pids


def _seed_sweep(store: Path, tmp_path: Path, name: str, *overrides: str) -> Path:
    """A two-trial grid sweep over the seed of a small lifter fit → its YAML file in ``tmp_path``."""
    import yaml

    sweep = {"name": name, "method": "grid", "metric": {"name": "val/p1", "goal": "minimize"},
             "parameters": {"seed": {"values": [0, 1]}},
             "command": ["${env}", "${interpreter}", "-m", "poseact", "fit",
                         *lifter_run_args(store, tmp_path / "unused", *overrides), "${args_no_hyphens}"]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_sweep_leaves_no_trial_running_and_resumes(session_store, tmp_path):
    path = _seed_sweep(session_store, tmp_path, "crash", "trainer.max_epochs=3")
    out = tmp_path / "sweep"
    runner = subprocess.Popen([sys.executable, "-m", "poseact", "sweep", str(path), "--output", str(out)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _fits_of(out / "trials") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _fits_of(out / "trials"), "no trial started"
    time.sleep(RNG.uniform(0.5, 3.0))
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 30
    while _fits_of(out / "trials") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _fits_of(out / "trials"), "a trial outlived its killed runner"
    rerun = subprocess.run([sys.executable, "-m", "poseact", "sweep", str(path), "--output", str(out)], env=ENV,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",complete," in r for r in rows[1:]), rows


# -- signals under a real Lightning fit and a sweep: 130 / 143 and one line -----------------------

def _wait_for(condition, what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.2)


@pytest.mark.parametrize("signum,code,word", [(signal.SIGINT, 130, "interrupted"),
                                              (signal.SIGTERM, 143, "terminated")], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_lightning_fit_exits_130_or_143_with_one_line(signum, code, word, session_store, tmp_path):
    """Lightning catches the interrupt and calls exit(1); the boundary still says which signal it was."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "poseact", "fit",
                             *lifter_run_args(session_store, out, "trainer.max_epochs=100000")],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (out / "checkpoints/last.ckpt").exists() or proc.poll() is not None,
                  "the first epoch's checkpoint")  # training is under way
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, (proc.returncode, err[-3000:])
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines[-1] == f"poseact: {word}; partial outputs removed", err[-3000:]
    assert "Traceback" not in err and "Detected KeyboardInterrupt" not in err, err[-3000:]
    assert not _temps(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_to_a_sweep_exits_143_and_stops_its_trials(session_store, tmp_path):
    path = _seed_sweep(session_store, tmp_path, "term", "trainer.max_epochs=100000")
    out = tmp_path / "sweep"
    runner = subprocess.Popen([sys.executable, "-m", "poseact", "sweep", str(path), "--output", str(out)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _fits_of(out / "trials") or runner.poll() is not None, "a trial start")
        assert runner.poll() is None, runner.communicate()[1][-3000:]
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 143, (runner.returncode, err[-3000:])
    assert err.strip().splitlines()[-1] == "poseact: terminated; partial outputs removed", err[-3000:]
    assert "Traceback" not in err
    _wait_for(lambda: not _fits_of(out / "trials"), "the trials' end", timeout_s=30)


# -- a reader of stdout that goes away (``poseact ... | head``) ------------------------------------

def _with_closed_stdout(args: list[str]) -> tuple[int, str]:
    """Run ``python args`` with its stdout a pipe whose reader is already gone."""
    proc = subprocess.Popen([sys.executable, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.stdout.close()  # as `| head -1` does once it has its line; here before anything is written
    err = proc.stderr.read()
    return proc.wait(timeout=300), err


def test_a_closed_pipe_ends_data_describe_and_a_dry_run_quietly(session_store, tmp_path):
    code, err = _with_closed_stdout(["-m", "poseact", "data", "describe", str(session_store)])
    assert code == 141 and "Traceback" not in err and "BrokenPipe" not in err, (code, err[-3000:])
    path = _seed_sweep(session_store, tmp_path, "pipe")
    code, err = _with_closed_stdout(["-m", "poseact", "sweep", str(path), "--dry-run"])
    assert code == 141 and "Traceback" not in err and "BrokenPipe" not in err, (code, err[-3000:])
