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


# -- units on their own axes, sweeps' validation curves (issue 21) ----------------------------------

@pytest.fixture
def figures(monkeypatch):
    """Every figure the plots module saves (still written to its file)."""
    from poseact.viz import plots

    saved = []
    real = plots._save

    def keep(fig, path):
        saved.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def test_multitask_curves_put_mm_and_percent_on_separate_axes(tmp_path, figures):
    from poseact.viz.plots import plot_training_curves

    series = {"train/pose_loss": [(s, 0, 1.0 / (s + 1)) for s in range(1, 30)],
              "val/mpjpe": [(10 * e, e, 300.0 - 20 * e) for e in range(4)],
              "val/pckh": [(10 * e, e, 20.0 + 10 * e) for e in range(4)],
              "val/acc_clip": [(10 * e, e, 30.0 + 5 * e) for e in range(4)],
              "train/lr": [(10 * e, e, 1e-3 * 0.5 ** e) for e in range(4)]}
    assert plot_training_curves(series, tmp_path / "curves.png").exists()
    axes = {ax.get_ylabel(): ax for ax in figures[-1].axes}
    assert {"mm", "%"} <= set(axes)
    assert [line.get_label() for line in axes["mm"].get_lines()] == ["MPJPE"]
    assert [line.get_label() for line in axes["%"].get_lines()] == ["PCKh@0.5", "Clip accuracy"]
    assert axes["learning rate"].get_yscale() == "log"


def test_lifting_curves_name_their_unit(tmp_path, figures):
    from poseact.viz.plots import plot_training_curves

    series = {"train/loss_3d_step": [(s, 0, 1.0 / s) for s in range(1, 9)],
              "val/p1": [(4, 0, 90.0), (8, 1, 70.0)], "val/p2": [(4, 0, 60.0), (8, 1, 50.0)]}
    plot_training_curves(series, tmp_path / "curves.png")
    mm = [ax for ax in figures[-1].axes if ax.get_ylabel() == "mm"]
    assert len(mm) == 1 and [line.get_label() for line in mm[0].get_lines()] == ["P1", "P2"]


def test_sweep_figure_validation_curves_one_colour_per_trial_lr_log(tmp_path, figures):
    """results.png of a learning-rate sweep: the per-epoch curves are validation values (labelled
    val, not test), each trial its own colour and legend entry, the lr on a log axis."""
    from poseact.sweep.report import plot

    rows = [{"trial": i, "state": "complete", "optim.lr": lr, "seed": 0, "test/p1": 80.0 - i,
             "_curve": ["epoch", [[1, 100.0 - i], [2, 90.0 - i]]]}
            for i, lr in enumerate((1e-4, 3e-4, 1e-3, 3e-3))]
    plot(rows, ["optim.lr"], "test/p1", tmp_path / "results.png")
    left, right = figures[-1].axes[:2]
    assert left.get_xscale() == "log" and "optim.lr" in left.get_xlabel()
    assert "val/p1 (mm)" in right.get_ylabel() and "test" not in right.get_ylabel() + right.get_title()
    lines = right.get_lines()
    assert len(lines) == 4 and len({tuple(line.get_color()) for line in lines}) == 4
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert legend == ["#0 lr=0.0001", "#1 lr=0.0003", "#2 lr=0.001", "#3 lr=0.003"]
