"""Plots: per-action bars, training curves over resumed CSV versions, metric vs budget."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from poseact.run.commands import write_run_plots
from poseact.run.folder import RunFolder
from poseact.viz.plots import plot_metric_vs_budget


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _png_size(path):
    import imageio.v3 as iio

    return iio.imread(path).shape


def test_run_plots_from_results_and_resumed_logs(tmp_path):
    run = tmp_path / "run"
    actions = [{"action": a, "frames": 100, "sequences": 2, "p1": 50 + i, "p2": 40 + i, "n_mpjpe": 45, "mpjve": 3}
               for i, a in enumerate(["Walking", "Sitting", "Eating"])]
    actions += [{"action": "action-wise average", "frames": 300, "sequences": 6, "p1": 51, "p2": 41, "n_mpjpe": 45,
                 "mpjve": 3},
                {"action": "frame-wise average", "frames": 300, "sequences": 6, "p1": 51, "p2": 41, "n_mpjpe": 45,
                 "mpjve": 3}]
    _write_csv(run / "results/test_per_action.csv", actions)
    # version_0 logged epochs 0-1 then died at step 25; version_1 resumed and repeated step 25
    _write_csv(run / "csv/version_0/metrics.csv",
               [{"epoch": e, "step": s, "train/loss_3d_step": 1.0 / (s + 1)} for e, s in ((0, 5), (0, 15), (1, 25))]
               + [{"epoch": 0, "step": 19, "val/p1": 90.0, "train/lr": 1e-3}])
    _write_csv(run / "csv/version_1/metrics.csv",
               [{"epoch": 1, "step": 25, "train/loss_3d_step": 0.5}, {"epoch": 1, "step": 39, "val/p1": 70.0,
                                                                       "train/lr": 9.5e-4}])
    m = RunFolder(run).read_metrics()
    assert [s for s, _, _ in m["train/loss_3d_step"]] == [5, 15, 25]
    assert m["train/loss_3d_step"][-1][2] == 0.5  # the later version wins
    assert [v for _, _, v in m["val/p1"]] == [90.0, 70.0]
    written = write_run_plots(RunFolder(run))
    assert sorted(p.name for p in written) == ["test_per_action.png", "training_curves.png"]
    h, w, _ = _png_size(run / "results/test_per_action.png")
    assert w > 400 and h > 200
    assert not list((run / "results").glob(".*tmp*"))


def test_run_plots_never_fail_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    (run / "results/test_per_action.csv").write_text("action,p1\nWalking,not-a-number\n")
    assert write_run_plots(RunFolder(run)) == []
    assert "skipped" in capsys.readouterr().out


def test_metric_vs_budget(tmp_path):
    records = [{"budget": b, "seed": s, "p1": 100 / np.sqrt(b) + s, "method": m}
               for b in (1, 4, 16) for s in (0, 1, 2) for m in ("mixed", "cycled")]
    records.append({"budget": 1, "seed": 9, "method": "mixed"})  # a failed run without the metric is skipped
    out = plot_metric_vs_budget(records, "budget", "p1", "method", tmp_path / "b.png", logx=True)
    assert out.exists()
    with pytest.raises(ValueError, match="'p9'"):
        plot_metric_vs_budget(records, "budget", "p9", "method", tmp_path / "c.png")


def test_sweep_report_plot_uses_the_plots_module(tmp_path):
    """``poseact sweep``'s figure comes from ``viz.plots.plot_sweep``: numeric budget axis, and one
    slot per setting when nothing numeric is swept; pruned curves allowed."""
    from poseact.sweep.report import plot

    rows = [{"trial": i, "state": "pruned" if i == 5 else "complete", "budget.amount": b, "seed": s,
             "data.sampling.mode": m, "val/p1": 100 / b + s, "_curve": ["epoch", [[1, 120.0], [2, 100 / b + s]]]}
            for i, (b, s, m) in enumerate([(1, 0, "mixed"), (1, 1, "mixed"), (10, 0, "mixed"), (10, 1, "mixed"),
                                           (1, 0, "cycled"), (10, 0, "cycled")])]
    out = plot(rows, ["budget.amount", "seed", "data.sampling.mode"], "val/p1", tmp_path / "a.png", title="t")
    assert out.exists() and _png_size(out)[1] > 800
    categorical = [{**r, "budget.amount": None} for r in rows]
    out = plot(categorical, ["seed", "data.sampling.mode"], "val/p1", tmp_path / "b.png")
    assert out.exists()
    assert not list(tmp_path.glob(".*tmp*"))
