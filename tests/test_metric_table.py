"""One metric table: every metric defined once (name, unit, decimals, header, goal, function), and
the tables, plots, summaries and console lines that read it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from poseact.metrics import table
from poseact.metrics.table import METRICS, compute_function, console_lines, format_metric, metric_of, with_unit


def test_every_metric_is_defined_once_with_unit_decimals_header_and_function():
    for name, m in METRICS.items():
        assert m.name == name and m.unit and m.goal in ("min", "max") and m.decimals >= 0
        assert m.header == f"{m.label} ({m.unit})"
        assert callable(compute_function(name))  # the function behind it exists
    assert (METRICS["p1"].unit, METRICS["pckh"].unit, METRICS["acc_clip"].unit) == ("mm", "%", "%")
    assert METRICS["pckh"].goal == "max" and METRICS["p1"].goal == "min"


@pytest.mark.parametrize("logged, base", [("val/p1", "p1"), ("test/p1_frame_wise", "p1"), ("p2", "p2"),
                                          ("test/mpjpe_best", "mpjpe"), ("val/p1/Walking", "p1"),
                                          ("test/acc_video", "acc_video"), ("train/loss_3d", None),
                                          ("budget_samples", None)])
def test_logged_names_find_their_definition(logged, base):
    m = metric_of(logged)
    assert (m.name if m else None) == base


def test_values_are_shown_with_the_tables_units_and_decimals():
    assert format_metric("test/p1", 41.234) == "41.2 mm"
    assert format_metric("test/mpjve", 3.14159) == "3.14 mm"
    assert format_metric("test/pckh", 51.26) == "51.3%"
    assert with_unit("val/acc_clip") == "val/acc_clip (%)" and with_unit("train/loss") == "train/loss"
    assert console_lines({"test/pckh": 51.26, "test/mpjpe": 123.45, "test/action_ce": 0.6931}) == [
        "test/action_ce           0.693 nats", "test/mpjpe               123.5 mm", "test/pckh                51.3%"]


def test_the_action_wise_table_reads_the_metric_table(monkeypatch):
    from poseact.metrics import ActionwiseAccumulator, SequenceResult

    acc = ActionwiseAccumulator([SequenceResult("S9", "Walking", "Walking 1", 0, 10,
                                                {"p1": 0.04123, "p2": 0.03, "n_mpjpe": 0.035, "mpjve": 0.0031})])
    header = acc.to_markdown().splitlines()[0]
    assert header == "| Action | P1 (mm) | P2 (mm) | N-MPJPE (mm) | MPJVE (mm) | frames |"
    monkeypatch.setitem(METRICS, "p1", dataclasses.replace(METRICS["p1"], label="MPJPE", decimals=3))
    text = acc.to_markdown()
    assert text.splitlines()[0].startswith("| Action | MPJPE (mm) |") and "| 41.230 |" in text


def test_plot_units_are_the_tables():
    from poseact.viz import plots

    assert plots.UNITS == {name: m.unit for name, m in METRICS.items()}
    assert plots.with_unit is table.with_unit


def test_multitask_console_metrics_carry_units(capsys):
    from poseact.multitask.family import FAMILY

    module = SimpleNamespace(last_results={"test/pckh": 61.04, "test/mpjpe": 212.33, "test/acc_clip": 40.0,
                                           "test/err2d_px": 3.456})
    FAMILY.report(None, module, None, global_zero=True)
    out = capsys.readouterr().out.splitlines()
    assert out == ["test/acc_clip            40.0%", "test/err2d_px            3.46 px",
                   "test/mpjpe               212.3 mm", "test/pckh                61.0%"]


def test_sweep_tables_name_metric_units():
    from poseact.sweep.report import _markdown

    text = _markdown([{"trial": 0, "optim.lr": 0.002, "test/p1": 41.234, "pckh": 50.04}],
                     ["trial", "optim.lr", "test/p1", "pckh"])
    assert text.splitlines()[0] == "| trial | optim.lr | test/p1 (mm) | pckh (%) |"
    assert text.splitlines()[2] == "| 0 | 0.002 | 41.2 | 50.0 |"
