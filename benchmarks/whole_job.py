"""Whole training jobs, poseact against VideoPose3D's own ``run.py``, side by side on this machine.

    git clone https://github.com/facebookresearch/VideoPose3D ~/VideoPose3D   # once; used as it is
    python benchmarks/whole_job.py --reference ~/VideoPose3D                # the three jobs, both programs
    python benchmarks/whole_job.py --reference ~/VideoPose3D --jobs subset --repeat 2
    python benchmarks/whole_job.py --reference ~/VideoPose3D --before /tmp/old   # also poseact from another tree
    python benchmarks/whole_job.py --reference ~/VideoPose3D --quick        # a small store, 1-2 epochs: a smoke run
    python benchmarks/whole_job.py --reference ~/VideoPose3D --style        # also the re-implementation
    python benchmarks/whole_job.py --reference ~/VideoPose3D --keep /tmp/runs    # keep every run's folder

The data: an H36M-format store of the issue's size, generated once (the synthetic set with 7 subjects,
8 actions, 2 takes of ~11.6 s, rendered with the four Human3.6M cameras of each subject: ~65,700
frames per camera; cached under ``--cache``), and the same store written in VideoPose3D's format
(``data_3d_h36m.npz``: 32-joint world metres; ``data_2d_h36m_poseact.npz``: 17-joint pixels, by
``poseact.convert.npz_export``). ``run.py`` takes its cameras from its own hard-coded Human3.6M
table; the benchmark checks that table against poseact's (which rendered the store) before it runs,
so both programs train on the same 2-D, the same 3-D targets and the same cameras.

The jobs (27 frames, 256 channels, AMSGrad, lr decay, BatchNorm momentum 0.1 → 0.001, evaluation
after every epoch, flip augmentation in training and at test; W&B offline on for poseact as by
default), with the ``run.py`` flags of each:

* ``reference``: S1, S5-S8 → S9, S11; batch 1024, 4 epochs (``-arc 3,3,3 -ch 256 -b 1024 -e 4``);
* ``subset``: 10 % of S1 by the reference's subset rule, batch 64, 30 epochs, supervised
  (``… -str S1 --subset 0.1 -b 64 -e 30``);
* ``semi``: the same labeled 10 % of S1, S5-S8 unlabeled, batch 64, 4 epochs (1 warm-up), lr decay 0.98
  (``… -str S1 --subset 0.1 -sun S5,S6,S7,S8 -b 64 -e 4 --warmup 1 -lrd 0.98``);
* ``videos``: the semi job with real video as the unlabeled set: an unlabeled store converted from
  the Pose2Sim demo's eight clips (Demo_Batch Trial_1 and Trial_2, four calibrated cameras each) by
  ``poseact data from-videos --calibration`` (MediaPipe, tracking, cleaning: a preparation step of
  ~1 min a clip here, cached in ``--cache``, not timed; ``--videos-store`` gives a store made
  otherwise, e.g. by ``from-videos`` from the ``poseact detect`` files of the same clips). poseact only:
  ``run.py`` cannot train on it — its semi-supervised mode takes unlabeled subjects of its
  Human3.6M dataset, with that dataset's hard-coded cameras (its ``custom`` dataset refuses ``-sun``),
  and these clips' cameras are not Human3.6M's, so ``convert.npz_export`` refuses to write them.

``run.py`` also does what it always does: after every epoch it evaluates the training set (and, in
the semi job, the unlabeled set) besides the test set, and it writes a checkpoint every 10 epochs.

Each program runs in its own process under ``/usr/bin/time -v``: wall time and its peak RSS (the
largest single process, which is what ``time`` reports), plus the peak of the summed RSS of the
process *tree* (W&B's service process included), sampled every 0.2 s. Accuracy is the final
action-wise P1 / P2 with flip test-time augmentation, as each program prints it (``run.py``'s
table; poseact's ``results/summary.json``). Ratios are poseact / ``run.py`` from the same run.
``--bf16`` also times poseact with ``trainer.precision=bf16-mixed`` (bf16 autocast: an option, not the
default; its P1 is in the table). ``--style`` also times ``benchmarks/reference_style.py``, a re-implementation of ``run.py``'s
procedure that reads a poseact store directly (its own column; it is not the reference).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import videopose3d  # noqa: E402  (benchmarks/videopose3d.py)

REPO = Path(__file__).resolve().parents[1]
ACTIONS = "[Directions,Discussion,Eating,Greeting,Phoning,Sitting,Walking,WalkDog]"
SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]  # the synthetic store's (its default)
RUN_PY = "VideoPose3D run.py"
STYLE = "re-implementation"
BF16 = "poseact bf16-mixed"


@dataclass
class Job:
    name: str
    what: str
    poseact: list[str]  # config + overrides
    videopose3d: list[str]  # run.py flags
    style: list[str]  # reference_style.py flags
    epochs: int


def jobs(quick: bool) -> dict[str, Job]:
    e = (lambda n: max(1, n // 15)) if quick else (lambda n: n)
    common = ["model.channels=256", "model.filter_widths=[3,3,3]", "data.downsample=1", "optim.bn_momentum_end=0.001",
              "eval.validate_every_n_epochs=1"]
    vp3d = ["-arc", "3,3,3", "-ch", "256"]
    ref = ["--channels", "256", "--widths", "3,3,3"]
    subset = ["data.subjects_train=[S1]", "data.subset=0.1", "data.batch_frames=64"]
    return {
        "reference": Job("reference", f"27 frames, 256 channels, {e(4)} epochs, batch 1024, per-epoch evaluation",
                         ["configs/experiment/demo.yaml", *common, f"trainer.max_epochs={e(4)}"],
                         [*vp3d, "-b", "1024", "-e", str(e(4))],
                         [*ref, "--epochs", str(e(4)), "--batch", "1024"], e(4)),
        "subset": Job("subset", f"10 % of S1, batch 64, {e(30)} epochs, supervised",
                      ["configs/experiment/demo.yaml", *common, *subset, f"trainer.max_epochs={e(30)}"],
                      [*vp3d, "-str", "S1", "--subset", "0.1", "-b", "64", "-e", str(e(30))],
                      [*ref, "--train", "S1", "--subset", "0.1", "--batch", "64", "--epochs", str(e(30))], e(30)),
        "semi": Job("semi", f"semi-supervised, {e(4)} epochs (1 warm-up), S5-S8 unlabeled",
                    ["configs/experiment/semi_synthetic.yaml", *common, "data.subjects_unlabeled=[S5,S6,S7,S8]",
                     "semi.warmup_epochs=1", f"trainer.max_epochs={e(4)}", "optim.lr_decay=0.98"],
                    [*vp3d, "-str", "S1", "--subset", "0.1", "-sun", "S5,S6,S7,S8", "-b", "64", "-e", str(e(4)),
                     "--warmup", "1", "-lrd", "0.98"],
                    [*ref, "--train", "S1", "--subset", "0.1", "--unlabeled", "S5,S6,S7,S8", "--batch", "64",
                     "--epochs", str(e(4)), "--warmup", "1", "--lr-decay", "0.98"], e(4)),
        "videos": Job("videos", f"semi-supervised, {e(4)} epochs (1 warm-up), real video unlabeled "
                                f"(from-videos store)",
                      ["configs/experiment/semi_synthetic.yaml", *common, "data.store_unlabeled=VIDEOS",
                       "data.subjects_unlabeled=[videos]", "semi.warmup_epochs=1", f"trainer.max_epochs={e(4)}",
                       "optim.lr_decay=0.98"], [], [], e(4)),
    }


@dataclass
class Measured:
    wall_s: float
    peak_rss_gb: float  # largest single process (/usr/bin/time -v)
    tree_rss_gb: float  # summed over the process tree, sampled
    metrics: dict = field(default_factory=dict)


def _tree_rss_kb(root: int) -> int:
    """Summed RSS (kB) of ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def timed(cmd: list[str], cwd: Path, env: dict, log: Path) -> Measured:
    """Run ``cmd`` under ``/usr/bin/time -v``; wall, peak RSS and peak process-tree RSS. Python may
    cache bytecode (as on a user's machine: a first run compiles, later runs do not)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    peak_tree = [0]
    with open(log, "w") as out:
        out.write(f"$ (cd {cwd} && {' '.join(cmd)})\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak_tree[0] = max(peak_tree[0], _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    text = log.read_text()
    if rc:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {rc}); its output: {log}\n{text[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return Measured(wall, peak / 1024 ** 2, peak_tree[0] / 1024 ** 2)


def ensure_store(cache: Path, quick: bool) -> tuple[Path, list[str]]:
    seconds = "2.0" if quick else "11.6"
    overrides = [f"data.synthetic.seconds_per_take={seconds}", f"data.synthetic.actions={ACTIONS}",
                 f"data.synthetic.cache_dir={cache}"]
    subprocess.run([sys.executable, "-m", "poseact", "data", "synthetic", *overrides], check=True, cwd=REPO,
                   capture_output=True)
    store = max(cache.glob("synthetic-*.h5"), key=lambda p: p.stat().st_mtime)
    return store, overrides


POSE2SIM = REPO / "data/pose2sim/Demo_Batch"
VIDEO_TRIALS = ["Trial_1", "Trial_2"]


def ensure_videos_store(cache: Path) -> Path:
    """The ``videos`` job's unlabeled store: the Pose2Sim demo's clips through ``poseact data from-videos``
    (once; its per-clip 2-D cache makes a rerun cheap)."""
    store = cache / "unlabeled-pose2sim.h5"
    if store.exists():
        return store
    if not all((POSE2SIM / t / "videos").is_dir() for t in VIDEO_TRIALS):
        raise SystemExit(f"the videos job needs {POSE2SIM} (python data_prep/fetch_pose2sim.py), or --videos-store")
    clips = cache / "pose2sim-clips"  # both trials name their clips cam01..cam04: links with unique names
    clips.mkdir(parents=True, exist_ok=True)
    videos = []
    for trial in VIDEO_TRIALS:
        for video in sorted((POSE2SIM / trial / "videos").glob("*.mp4")):
            link = clips / f"Demo_Batch_{trial}_{video.name}"  # Demo_Batch_Trial_1_cam01.mp4: camera cam01
            if not link.exists():
                link.symlink_to(video.resolve())
            videos.append(link)
    cmd = [sys.executable, "-m", "poseact", "data", "from-videos", *map(str, videos), "--calibration",
           str(POSE2SIM / VIDEO_TRIALS[0] / "calibration/Calib.qca.txt"), "--out", str(store)]
    print(f"converting the videos job's clips (not timed): {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"poseact data from-videos failed (exit {done.returncode}; MediaPipe: poseact detect setup):"
                         f"\n{done.stderr[-2000:]}")
    return store


def run_poseact(job: Job, src: Path, overrides: list[str], work: Path, tag: str,
                videos: Path | None = None, extra: tuple[str, ...] = ()) -> Measured:
    # W&B as a user has it by default (offline, the logger config): a WANDB_MODE of the caller is not passed on
    env = {**{k: v for k, v in os.environ.items() if k != "WANDB_MODE"}, "PYTHONPATH": str(src / "src")}
    out = work / f"{job.name}-{tag}"
    args = [a.replace("=VIDEOS", f"={videos}") for a in job.poseact]
    cmd = [sys.executable, "-m", "poseact", "fit", *args, *overrides, *extra, f"output_dir={out}"]
    m = timed(cmd, src, env, work / f"{job.name}-{tag}.log")
    m.metrics = json.loads((out / "results/summary.json").read_text())
    return m


def run_videopose3d(job: Job, clone: Path, data: Path, work: Path, tag: str) -> Measured:
    """``run.py`` in a folder of its own whose ``data`` links to the exported store."""
    folder = work / f"{job.name}-{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "data").exists():
        (folder / "data").symlink_to(data.resolve(), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log = work / f"{job.name}-{tag}.log"
    m = timed(videopose3d.command(clone, job.videopose3d, folder / "checkpoint"), folder, env, log)
    m.metrics = videopose3d.parse_output(log.read_text())
    return m


def run_style(job: Job, store: Path, work: Path, tag: str) -> Measured:
    log = work / f"{job.name}-{tag}.log"
    cmd = [sys.executable, str(REPO / "benchmarks/reference_style.py"), str(store), *job.style,
           "--checkpoint-dir", str(work / f"{job.name}-{tag}-checkpoints")]
    m = timed(cmd, work, dict(os.environ), log)
    result = [line for line in log.read_text().splitlines() if line.startswith("{")][-1]
    m.metrics = json.loads(result)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True,
                    help="a clone of https://github.com/facebookresearch/VideoPose3D (its run.py is the baseline)")
    names = ["reference", "subset", "semi", "videos"]
    ap.add_argument("--jobs", nargs="+", default=names, choices=names)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each program per job (figures: the median)")
    ap.add_argument("--poseact", type=Path, default=REPO, help="the poseact source tree to time (default: this one)")
    ap.add_argument("--before", type=Path,
                    help="also run poseact from this source tree (a checkout of an older commit)")
    ap.add_argument("--bf16", action="store_true",
                    help="also poseact with trainer.precision=bf16-mixed (an option: its P1 is in the table)")
    ap.add_argument("--style", action="store_true",
                    help="also time benchmarks/reference_style.py (a re-implementation of run.py's procedure)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "poseact-whole-job")
    ap.add_argument("--quick", action="store_true", help="a small store and 1-2 epochs (smoke run)")
    ap.add_argument("--videos-store", type=Path,
                    help="the videos job's unlabeled store (subject 'videos'; default: made from the Pose2Sim demo "
                         "clips by poseact data from-videos, cached under --cache)")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    ap.add_argument("--keep", type=Path, help="keep every run's folder (checkpoints, logs) here instead of a "
                                              "temporary directory")
    args = ap.parse_args()
    clone = videopose3d.check_clone(args.reference)
    worst = videopose3d.check_cameras(clone, SUBJECTS)
    store, overrides = ensure_store(args.cache / ("synthetic-quick" if args.quick else "synthetic"), args.quick)
    data = videopose3d.export_store(store, store.with_suffix(".videopose3d"))
    videos = (args.videos_store or ensure_videos_store(args.cache)) if "videos" in args.jobs else None
    print(f"VideoPose3D {clone} at {videopose3d.clone_commit(clone)}; python {sys.version.split()[0]}")
    print(f"store {store} ({store.stat().st_size / 1e6:.0f} MB) and as VideoPose3D's files in {data}; "
          f"Human3.6M cameras of VideoPose3D and poseact agree to {worst:.1e}; {os.cpu_count()} CPUs", flush=True)
    programs: dict[str, Path | None] = {RUN_PY: None, "poseact": args.poseact}
    if args.before:
        programs["poseact before"] = args.before
    if args.bf16:
        programs[BF16] = args.poseact
    if args.style:
        programs[STYLE] = None
    table, record = [], {}
    with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        for name in args.jobs:
            job = jobs(args.quick)[name]
            runs: dict[str, list[Measured]] = {p: [] for p in programs}
            for r in range(args.repeat):  # interleaved, so slow phases of the machine hit both
                for program, src in programs.items():
                    if name == "videos" and program in (RUN_PY, STYLE):
                        continue  # run.py cannot train on a store of other cameras (see the docstring)
                    tag = f"{program.replace(' ', '-').replace('.', '')}-{r}"
                    if program == RUN_PY:
                        m = run_videopose3d(job, clone, data, work, tag)
                    elif program == STYLE:
                        m = run_style(job, store, work, tag)
                    else:
                        m = run_poseact(job, src, overrides, work, tag, videos,
                                        ("trainer.precision=bf16-mixed",) if program == BF16 else ())
                    runs[program].append(m)
                    print(f"  {name:9s} {program:18s} wall {m.wall_s:7.1f} s  peak RSS {m.peak_rss_gb:.3f} GB  "
                          f"tree {m.tree_rss_gb:.3f} GB  P1 {m.metrics['p1']:.1f} mm", flush=True)
            med = {p: sorted(ms, key=lambda m: m.wall_s)[len(ms) // 2] for p, ms in runs.items() if ms}
            table.append((job, med))
            record[name] = {"flags": {"poseact": job.poseact, "run.py": job.videopose3d},
                            **{p: [vars(m) for m in ms] for p, ms in runs.items()}}
    others = [p for p in programs if p != RUN_PY]
    print(f"\n| job | | {RUN_PY} | " + " | ".join(others) + " | ratio (poseact / run.py) |")
    print("| --- | --- | ---: |" + " ---: |" * len(others) + " ---: |")
    for job, med in table:
        base, new = med.get(RUN_PY), med["poseact"]
        rows = [("wall", lambda m: f"{m.wall_s:.1f} s", lambda m: m.wall_s),
                ("peak RSS (largest process)", lambda m: f"{m.peak_rss_gb:.3f} GB", lambda m: m.peak_rss_gb),
                ("peak RSS (process tree)", lambda m: f"{m.tree_rss_gb:.3f} GB", lambda m: m.tree_rss_gb),
                ("P1 / P2 (mm)", lambda m: f"{m.metrics['p1']:.1f} / {m.metrics['p2']:.1f}", lambda m: m.metrics["p1"])]
        for i, (what, fmt, value) in enumerate(rows):
            label = job.what if i == 0 else ""
            cells = " | ".join(fmt(med[p]) if p in med else "—" for p in others)
            ratio = f"{value(new) / value(base):.2f}×" if base else "— (run.py cannot read it)"
            print(f"| {label} | {what} | {fmt(base) if base else '—'} | {cells} | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
