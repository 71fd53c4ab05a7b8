"""Run a sweep offline: an Optuna study in RDB storage, each trial a real ``poseact fit`` process.

Layout of a sweep folder (default ``outputs/sweeps/<sweep name>/``)::

    study.db            Optuna storage (unless --storage names a shared database)
    trials/0003/        the trial's output_dir: config, checkpoints, csv/, wandb/ (offline run), results/
    logs/0003.log       the trial's console
    results.csv/.md     the comparison table, results.png the plot (poseact.sweep.report)

Trials run one per visible GPU (``CUDA_VISIBLE_DEVICES`` set per worker) or one at a time on
CPU. While a trial runs, the coordinator tails its ``csv/version_*/metrics.csv`` and reports the
per-epoch ``val/<metric>`` to Optuna; when the hyperband rule stops the trial, its process group
is terminated. A killed sweep resumes where it stopped: finished trials are in the storage, and a
trial whose coordinator died is failed and re-queued with the same parameters and output folder,
so its ``poseact fit`` continues from its last checkpoint.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

try:  # optuna >= 4.9 names it after the heartbeat
    from optuna.storages import RetryHeartbeatStaleTrialCallback as _Retry

    _RETRY_KWARG = "heartbeat_stale_trial_callback"
except ImportError:  # pragma: no cover - older optuna
    from optuna.storages import RetryFailedTrialCallback as _Retry

    _RETRY_KWARG = "failed_trial_callback"

from poseact.atomic import pid_alive
from poseact.run.folder import RunFolder
from poseact.sweep.search import WandbHyperband, grid_trials, sampler_for, suggest
from poseact.sweep.spec import SweepError, SweepSpec, build_command

#: the environment variable through which W&B hands its running service to child processes (wandb/env.py)
WANDB_SERVICE = "WANDB_SERVICE"


@dataclass
class RunOptions:
    out_dir: Path
    storage: str | None = None  # default: sqlite in out_dir
    workers: int | None = None  # default: one per visible GPU, else 1
    max_trials: int | None = None  # for random/bayes sweeps without run_cap
    seed: int = 0
    poll_s: float = 0.5
    heartbeat_s: int = 10
    grace_s: int = 60
    kill_grace_s: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Running:
    trial: optuna.Trial
    proc: subprocess.Popen
    out: Path
    log: Any
    gpu: str | None
    started: float
    history: list[float] = field(default_factory=list)
    beat: float = 0.0  # when the last heartbeat was recorded


def visible_gpus() -> list[str]:
    """GPU ids trials may use: ``CUDA_VISIBLE_DEVICES`` if set, else what ``nvidia-smi -L`` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return [] if ids in ([], ["-1"]) else ids
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
    return []


def _kill_group(pid: int, grace_s: float) -> None:
    """SIGTERM the trial's process group (it was started in a session of its own), then SIGKILL."""
    try:
        leader = os.getpgid(pid) == pid
    except ProcessLookupError:
        return
    kill = os.killpg if leader else os.kill  # not a leader: a process we did not start, alone
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    try:
        if pid_alive(pid):
            kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class SweepRunner:
    """Coordinates one worker pool of a sweep; several runners (machines) may share one storage."""

    def __init__(self, spec: SweepSpec, opts: RunOptions) -> None:
        self.spec, self.opts = spec, opts
        self.out = Path(opts.out_dir).resolve()
        self.cap = spec.total_trials() or opts.max_trials
        if self.cap is None:
            raise SweepError(f"{spec.where('run_cap')}: a {spec.method} sweep without run_cap never ends "
                             f"(W&B runs it until stopped); add run_cap or pass --max-trials")
        gpus = visible_gpus()
        n = opts.workers or max(1, len(gpus))
        self.slots: list[str | None] = [gpus[i % len(gpus)] if gpus else None for i in range(n)]
        self.host = socket.gethostname()

    # -- study ---------------------------------------------------------------------------------
    def open_study(self) -> optuna.Study:
        if self.opts.storage:
            check_storage(self.opts.storage)
        self.out.mkdir(parents=True, exist_ok=True)
        url = self.opts.storage or f"sqlite:///{self.out / 'study.db'}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats are "experimental" in optuna
            self.storage = RDBStorage(url, heartbeat_interval=self.opts.heartbeat_s, grace_period=self.opts.grace_s,
                                      **{_RETRY_KWARG: _Retry(max_retry=3)})
        pruner = WandbHyperband(self.spec.hyperband, self.spec.metric.goal) if self.spec.hyperband else optuna.pruners.NopPruner()
        kwargs = dict(study_name=self.spec.name, storage=self.storage, pruner=pruner)
        try:
            study = optuna.create_study(direction=self.spec.metric.direction, sampler=sampler_for(self.spec, self.opts.seed), **kwargs)
            study.set_user_attr("sweep", self.spec.raw)
            for params in grid_trials(self.spec) if self.spec.method == "grid" else []:
                study.enqueue_trial(params, skip_if_exists=False)
        except optuna.exceptions.DuplicatedStudyError:
            n = len(optuna.load_study(**kwargs).trials)
            study = optuna.load_study(sampler=sampler_for(self.spec, self.opts.seed + n), **kwargs)
            if study.user_attrs.get("sweep") not in (None, self.spec.raw):
                raise SweepError(f"{self.spec.where()}: the storage holds a sweep {self.spec.name!r} made from a "
                                 f"different YAML; rename the sweep (name:) or use another --output/--storage") from None
        return study

    def _counts(self, study: optuna.Study) -> tuple[int, int, int]:
        """(trials that count toward the cap, waiting trials, running trials)."""
        counted = waiting = running = 0
        for t in study.get_trials(deepcopy=False):
            if t.state == TrialState.FAIL and "exit_code" not in t.user_attrs:
                continue  # interrupted: re-queued as a new trial
            counted += 1
            waiting += t.state == TrialState.WAITING
            running += t.state == TrialState.RUNNING
        return counted, waiting, running

    def _recover_orphans(self, study: optuna.Study) -> None:
        """Fail and re-queue this host's running trials whose coordinator is gone (a killed sweep),
        stopping their ``poseact fit`` if it survived; other hosts' go by heartbeat."""
        for t in study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)):
            a = t.user_attrs
            if a.get("host") != self.host or pid_alive(int(a.get("coordinator_pid", -1))):
                continue
            for pid in _fits_writing_to(str(a.get("output_dir", "\0"))):
                _kill_group(pid, self.opts.kill_grace_s)
            if self.storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                # the same parameters (a grid trial's are fixed before it is drawn) and folder
                params = t.params or t.system_attrs.get("fixed_params", {})
                keep = {k: t.user_attrs[k] for k in ("output_dir",) if k in t.user_attrs}
                study.enqueue_trial(params, user_attrs={**keep, "retry_of": t.number}, skip_if_exists=False)
                print(f"sweep {self.spec.name}: trial {t.number} was interrupted; re-queued", file=sys.stderr)

    # -- trials --------------------------------------------------------------------------------
    def _launch(self, study: optuna.Study, gpu: str | None) -> _Running:
        trial = study.ask()
        # first of all, what a resumed sweep needs to recognise this trial as its orphan
        self.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("host", self.host)
        trial.set_user_attr("coordinator_pid", os.getpid())
        values = suggest(trial, self.spec.params)
        out = Path(trial.user_attrs.get("output_dir") or self.out / "trials" / f"{trial.number:04d}")
        cmd = build_command(self.spec, values) + [f"output_dir={out}", f"name={self.spec.name}-{trial.number:04d}"]
        env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_RUN_GROUP": self.spec.name,
               "WANDB_JOB_TYPE": "sweep-trial", **self.opts.extra_env}
        # each trial starts its own W&B service: a process that has used W&B (a notebook, the test runner)
        # exports its service's address, and a trial killed mid-run would leave its run id held there, so
        # the re-queued trial, which continues that run, would be refused ("run ID is in use")
        env.pop(WANDB_SERVICE, None)
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        elif len(self.slots) > 1:
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(self.slots))))
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.out / "logs" / f"{trial.number:04d}.log", "a")
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        for k, v in {"output_dir": str(out), "params": dict(values), "command": cmd, "gpu": gpu}.items():
            trial.set_user_attr(k, v)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
        trial.set_user_attr("pid", proc.pid)
        print(f"sweep {self.spec.name}: trial {trial.number} started"
              f"{' on GPU ' + gpu if gpu is not None else ''}: {' '.join(cmd[cmd.index('fit') + 2:-2])}", file=sys.stderr)
        return _Running(trial, proc, out, log, gpu, time.monotonic())

    def _poll(self, study: optuna.Study, r: _Running) -> bool:
        """Report new epochs, prune, or finish; True when the trial is over."""
        if time.monotonic() - r.beat >= self.opts.heartbeat_s / 2:
            self.storage.record_heartbeat(r.trial._trial_id)
            r.beat = time.monotonic()
        history = RunFolder(r.out).metric_history(self.spec.metric.intermediate)
        for step in range(len(r.history), len(history)):
            r.trial.report(history[step], step)
        r.history = history
        rc = r.proc.poll()
        if rc is None and self.spec.hyperband and len(history) and r.trial.should_prune():
            _kill_group(r.proc.pid, self.opts.kill_grace_s)
            r.proc.wait()
            self._finish(study, r, TrialState.PRUNED, None, f"pruned at step {len(history) - 1}")
            return True
        if rc is None:
            return False
        value = RunFolder(r.out).final_value(self.spec.metric.name) if rc == 0 else None
        r.trial.set_user_attr("exit_code", rc)
        if value is None:
            why = f"exit code {rc}" if rc else f"metric {self.spec.metric.name!r} was never logged"
            self._finish(study, r, TrialState.FAIL, None, f"failed ({why}; see logs/{r.trial.number:04d}.log)")
        else:
            self._finish(study, r, TrialState.COMPLETE, value, f"{self.spec.metric.name} = {value:.4g}")
        return True

    def _finish(self, study: optuna.Study, r: _Running, state: TrialState, value: float | None, msg: str) -> None:
        r.trial.set_user_attr("seconds", round(time.monotonic() - r.started, 2))
        folder = RunFolder(r.out)
        r.trial.set_user_attr("summary", folder.read_summary())
        r.trial.set_user_attr("curve", folder.metric_curve(self.spec.metric.intermediate))
        r.log.close()
        study.tell(r.trial, value, state=state)
        print(f"sweep {self.spec.name}: trial {r.trial.number} {msg}", file=sys.stderr)

    def run(self) -> optuna.Study:
        """Run trials until the sweep is complete (resuming whatever the storage holds)."""
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*Heartbeat of storage is supposed to be used with Study.optimize.*")
        _stop_on_sigterm()
        study = self.open_study()
        self._recover_orphans(study)
        running: dict[int, _Running] = {}
        try:
            while True:
                optuna.storages.fail_stale_trials(study)
                for slot in [s for s, r in running.items() if self._poll(study, r)]:
                    del running[slot]  # refilled below, without waiting for the next poll
                for slot, gpu in enumerate(self.slots):
                    counted, waiting, _ = self._counts(study)
                    if slot in running or not (waiting or (self.spec.method != "grid" and counted < self.cap)):
                        continue
                    running[slot] = self._launch(study, gpu)
                counted, waiting, others = self._counts(study)
                others -= len(running)
                more = waiting or (self.spec.method != "grid" and counted < self.cap)
                if not running and not more and others <= 0:
                    return study
                time.sleep(self.opts.poll_s)
        finally:  # Ctrl-C or an error: stop our trials; the next run re-queues them
            for r in running.values():
                _kill_group(r.proc.pid, self.opts.kill_grace_s)
                r.log.close()


def check_storage(url: str) -> None:
    """Refuse a ``--storage`` URL that cannot work, before any trial: malformed, a database kind
    SQLAlchemy does not know, a driver that is not installed, an SQLite file in a missing folder.
    (A network database that does not answer is found when the sweep connects.)"""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:
        raise SweepError(f"--storage {url!r} is not a database URL (e.g. sqlite:///sweep.db, "
                         f"postgresql://user@host/db): {e}") from None
    try:
        dialect = parsed.get_dialect()
        if hasattr(dialect, "import_dbapi"):
            dialect.import_dbapi()  # the driver module: an ImportError when it is not installed
    except NoSuchModuleError:
        raise SweepError(f"--storage {url!r}: SQLAlchemy knows no database kind {parsed.drivername!r} "
                         f"(e.g. sqlite, postgresql, mysql)") from None
    except ImportError as e:
        raise SweepError(f"--storage {url!r}: the database driver is not installed ({e}); install it in this "
                         f"environment (e.g. psycopg2-binary for postgresql, mysqlclient for mysql)") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise SweepError(f"--storage {url!r}: an SQLite storage needs a file (sqlite:///path/to/study.db); an "
                             f"in-memory database is not shared by the trials")
        folder = Path(db).expanduser().parent
        if not folder.is_dir():
            raise SweepError(f"--storage {url!r}: folder {str(folder)!r} of the SQLite file does not exist")


def _die_with_parent() -> None:
    """In a trial process, before ``exec``: ask Linux to SIGTERM it when its runner dies, however
    the runner dies (SIGKILL included), so a trial never trains on as an orphan. Elsewhere a no-op:
    the runner's ``finally`` and the next run's orphan recovery still stop it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_on_sigterm() -> None:
    """A SIGTERM to the runner (a job scheduler's stop, ``kill``) unwinds like Ctrl-C, so the
    ``finally`` of :meth:`SweepRunner.run` stops the running trials; the CLI boundary then exits
    143 (SIGINT: 130), as :func:`poseact.errors.handle_interrupts` records which signal came."""
    from poseact.errors import handle_interrupts

    handle_interrupts()


def _fits_writing_to(output_dir: str) -> list[int]:
    """Live processes started with ``output_dir=<output_dir>`` (Linux ``/proc``; elsewhere none)."""
    needle = f"output_dir={output_dir}\0".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes() + b"\0":
                pids.append(int(entry.name))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]
