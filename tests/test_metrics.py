"""Tests for poseact.metrics: golden values of the reference spec (§11), the action-wise
accumulator (hand-computed examples) and its multi-process gather (gloo on CPU)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from poseact.convert.npz import action_group
from poseact.lifting.clock import bn_momentum
from poseact.metrics import (
    METRIC_NAMES,
    ActionwiseAccumulator,
    SequenceResult,
    mean_velocity_error,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    procrustes_align,
    sequence_metrics,
    weighted_mpjpe,
)

REL = 1e-9


@pytest.fixture
def golden_data() -> tuple[np.ndarray, np.ndarray]:
    """The §11 inputs: (pred, target), float64, shape (2, 4, 17, 3)."""
    rng = np.random.RandomState(0)
    target = rng.randn(2, 4, 17, 3) * 0.2
    pred = (target + rng.randn(2, 4, 17, 3) * 0.05) * 1.1 + 0.03
    return pred, target


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------ golden values (§11)


def test_mpjpe_golden(golden_data):
    pred, target = golden_data
    out = mpjpe(torch.from_numpy(pred), torch.from_numpy(target))
    assert out.dim() == 0
    assert out.item() == pytest.approx(0.10277665916355117, rel=REL)


def test_n_mpjpe_golden(golden_data):
    pred, target = golden_data
    out = n_mpjpe(torch.from_numpy(pred), torch.from_numpy(target))
    assert out.item() == pytest.approx(0.08151551015852314, rel=REL)


def test_weighted_mpjpe_golden(golden_data):
    pred, target = golden_data
    w = torch.from_numpy(np.linspace(0.5, 2.0, 8).reshape(2, 4, 1))
    out = weighted_mpjpe(torch.from_numpy(pred[:, :, :1]), torch.from_numpy(target[:, :, :1]), w)
    assert out.item() == pytest.approx(0.09957930785781179, rel=REL)


def test_p_mpjpe_golden(golden_data):
    pred, target = golden_data
    assert p_mpjpe(pred.reshape(8, 17, 3), target.reshape(8, 17, 3)) == pytest.approx(
        0.07027480289106573, rel=REL
    )


def test_mean_velocity_error_golden(golden_data):
    pred, target = golden_data
    out = mean_velocity_error(pred.reshape(8, 17, 3), target.reshape(8, 17, 3))
    assert out == pytest.approx(0.12496657709970795, rel=REL)


def test_mean_velocity_error_axis(golden_data):
    pred, target = (a.reshape(8, 17, 3) for a in golden_data)
    moved = mean_velocity_error(pred.transpose(1, 0, 2), target.transpose(1, 0, 2), axis=1)
    assert moved == pytest.approx(0.12496657709970795, rel=REL)
    # differencing along joints instead of time is a different number
    assert mean_velocity_error(pred, target, axis=1) != pytest.approx(moved, rel=1e-3)


def test_p_mpjpe_reflection_golden_and_fix_matters(golden_data):
    target = golden_data[1].reshape(8, 17, 3)
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, target) == pytest.approx(0.23661055537431372, rel=REL)
    # without the det fix the mirror image would be aligned (almost) perfectly
    aligned = procrustes_align(mirrored, target, allow_reflection=True)
    assert np.linalg.norm(aligned - target, axis=-1).mean() < 1e-10


def test_p_mpjpe_similarity_invariance(golden_data):
    target = golden_data[1].reshape(8, 17, 3)
    moved = 1.3 * target @ _rot_z(0.7) + 0.5
    assert p_mpjpe(moved, target) == pytest.approx(0.0, abs=1e-10)
    # ...whereas protocol #1 sees the transformation
    assert mpjpe(torch.from_numpy(moved), torch.from_numpy(target)).item() > 0.1


def test_p_mpjpe_batched_equals_rowwise_and_accepts_tensors(golden_data):
    pred, target = (a.reshape(8, 17, 3) for a in golden_data)
    rowwise = np.mean([p_mpjpe(pred[i : i + 1], target[i : i + 1]) for i in range(8)])
    assert p_mpjpe(pred, target) == pytest.approx(rowwise, rel=1e-12)
    as_tensor = p_mpjpe(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    assert isinstance(as_tensor, float)
    assert as_tensor == pytest.approx(0.07027480289106573, rel=1e-5)
    aligned = procrustes_align(pred, target)
    assert aligned.shape == pred.shape and aligned.dtype == np.float64


def test_bn_momentum_golden():
    assert bn_momentum(1, 80) == pytest.approx(0.09440608762859234, rel=REL)
    assert bn_momentum(40, 80) == pytest.approx(0.01, rel=REL)
    assert bn_momentum(80, 80) == pytest.approx(0.001, rel=REL)
    assert bn_momentum(0, 80) == pytest.approx(0.1, rel=REL)
    with pytest.raises(ValueError):
        bn_momentum(1, 0)


# ------------------------------------------------------------------ small hand examples / errors


def test_mpjpe_hand_example_2d():
    pred = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    target = torch.zeros(2, 2)
    assert mpjpe(pred, target).item() == pytest.approx(2.5)


def test_n_mpjpe_removes_scale():
    target = torch.randn(2, 3, 17, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    scales = torch.tensor([0.5, 2.0], dtype=torch.float64).view(2, 1, 1, 1)
    assert n_mpjpe(target * scales, target).item() == pytest.approx(0.0, abs=1e-12)
    assert mpjpe(target * scales, target).item() > 0.1


def test_n_mpjpe_is_differentiable():
    pred = torch.randn(1, 2, 5, 3, requires_grad=True)
    n_mpjpe(pred, torch.randn(1, 2, 5, 3)).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize(
    "fn",
    [
        lambda p, t: mpjpe(p, t),
        lambda p, t: n_mpjpe(p, t),
        lambda p, t: weighted_mpjpe(p, t, torch.ones(1)),
        lambda p, t: p_mpjpe(p, t),
        lambda p, t: mean_velocity_error(p, t),
    ],
)
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(1, 4, 17, 3\).*\(1, 4, 16, 3\)"):
        fn(torch.zeros(1, 4, 17, 3), torch.zeros(1, 4, 16, 3))


def test_n_mpjpe_requires_4d():
    with pytest.raises(ValueError, match="4-D"):
        n_mpjpe(torch.ones(4, 17, 3), torch.ones(4, 17, 3))


def test_sequence_metrics(golden_data):
    pred, target = (a.reshape(8, 17, 3) for a in golden_data)
    m = sequence_metrics(torch.from_numpy(pred), target)
    assert set(m) == set(METRIC_NAMES)
    assert m["p1"] == pytest.approx(0.10277665916355117, rel=REL)
    assert m["p2"] == pytest.approx(0.07027480289106573, rel=REL)
    assert m["mpjve"] == pytest.approx(0.12496657709970795, rel=REL)
    expected_n = n_mpjpe(torch.from_numpy(pred)[None], torch.from_numpy(target)[None]).item()
    assert m["n_mpjpe"] == pytest.approx(expected_n, rel=REL)
    single = sequence_metrics(pred[:1], target[:1])
    assert single["mpjve"] == 0.0 and math.isfinite(single["p2"])
    # a subset: only those metrics, the same values, table order
    assert sequence_metrics(pred, target, ("mpjve", "p1")) == {"p1": m["p1"], "mpjve": m["mpjve"]}
    with pytest.raises(ValueError, match="unknown metrics"):
        sequence_metrics(pred, target, ("p3",))
    with pytest.raises(ValueError):
        sequence_metrics(pred[None], target[None])


def test_accumulator_with_only_some_metrics():
    """A per-epoch validation that computed P1 alone: averages of P1, NaN in the table's other columns."""
    acc = ActionwiseAccumulator([SequenceResult("S9", "Walking", "Walking 1", "c1", 10, {"p1": 0.1}),
                                 SequenceResult("S9", "Eating", "Eating 1", "c1", 30, {"p1": 0.2})])
    assert acc.action_wise() == pytest.approx({"p1": 0.15})
    assert acc.frame_wise() == pytest.approx({"p1": 0.175})
    rows = acc.table_rows()
    assert rows[-1]["p1"] == pytest.approx(175.0) and math.isnan(rows[-1]["p2"])


# ------------------------------------------------------------------ accumulator


def _res(subject, take, camera, frames, p1, **extra) -> SequenceResult:
    """Result whose metrics are simple multiples of p1 (p2 = p1/2, n = p1*0.8, mpjve = p1/10)."""
    values = {"p1": p1, "p2": p1 / 2, "n_mpjpe": p1 * 0.8, "mpjve": p1 / 10, **extra}
    return SequenceResult(subject, action_group(take), take, camera, frames, values)


@pytest.fixture
def two_actions() -> ActionwiseAccumulator:
    acc = ActionwiseAccumulator()
    acc.add(_res("S9", "Walking", "c1", 100, 0.04))
    acc.add(_res("S9", "Walking 1", "c1", 300, 0.08))
    acc.add(_res("S11", "Sitting", "c2", 50, 0.10))
    return acc


def test_per_action_is_frame_weighted(two_actions):
    per = two_actions.per_action()
    assert list(per) == ["Sitting", "Walking"]
    # Walking: (100*0.04 + 300*0.08) / 400 = 0.07  (an unweighted mean would be 0.06)
    assert per["Walking"]["p1"] == pytest.approx(0.07, rel=1e-12)
    assert per["Walking"]["p2"] == pytest.approx(0.035, rel=1e-12)
    assert per["Walking"]["mpjve"] == pytest.approx(0.007, rel=1e-12)  # weight T, not T-1
    assert per["Sitting"]["n_mpjpe"] == pytest.approx(0.08, rel=1e-12)


def test_action_wise_differs_from_frame_wise(two_actions):
    aw = two_actions.action_wise()
    fw = two_actions.frame_wise()
    assert aw["p1"] == pytest.approx((0.07 + 0.10) / 2, rel=1e-12)  # 0.085
    assert fw["p1"] == pytest.approx((4.0 + 24.0 + 5.0) / 450, rel=1e-12)  # 0.0733...
    assert aw["p1"] != pytest.approx(fw["p1"], rel=1e-3)
    assert aw["mpjve"] == pytest.approx(0.0085, rel=1e-12)


def test_per_subject(two_actions):
    ps = two_actions.per_subject()
    assert list(ps) == ["S11", "S9"]
    assert ps["S9"]["p1"] == pytest.approx(0.07, rel=1e-12)
    assert ps["S11"]["p1"] == pytest.approx(0.10, rel=1e-12)


def test_duplicates_count_once(two_actions):
    n = len(two_actions)
    before = two_actions.action_wise()
    two_actions.add(_res("S9", "Walking 1", "c1", 300, 0.08))
    assert len(two_actions) == n
    assert two_actions.action_wise() == before
    with pytest.raises(ValueError, match="conflicting"):
        two_actions.add(_res("S9", "Walking 1", "c1", 299, 0.08))
    # a different camera is a different sequence
    two_actions.add(_res("S9", "Walking 1", "c2", 300, 0.08))
    assert len(two_actions) == n + 1


def test_sequence_result_validation():
    with pytest.raises(ValueError, match="lacks the metric p1"):
        SequenceResult("S9", "Walking", "Walking", "c1", 10, {"p2": 0.1})
    with pytest.raises(ValueError):
        _res("S9", "Walking", "c1", 0, 0.1)


def test_gather_without_distributed_returns_self(two_actions):
    assert two_actions.gather() is two_actions


def test_table_rows_and_markdown(two_actions):
    rows = two_actions.table_rows()
    assert [r["action"] for r in rows] == ["Sitting", "Walking", "action-wise average", "frame-wise average"]
    walking = rows[1]
    assert (walking["frames"], walking["sequences"]) == (400, 2)
    assert walking["p1"] == pytest.approx(70.0, rel=1e-12)
    assert (rows[2]["frames"], rows[2]["sequences"]) == (450, 3)
    assert rows[2]["p1"] == pytest.approx(85.0, rel=1e-12)
    assert rows[3]["p1"] == pytest.approx(33 / 450 * 1000, rel=1e-12)

    md = two_actions.to_markdown()
    lines = md.strip().splitlines()
    assert lines[0].replace(" ", "") == "|Action|P1(mm)|P2(mm)|N-MPJPE(mm)|MPJVE(mm)|frames|"
    cells = [c.strip() for c in lines[-2].strip("|").split("|")]
    assert cells == ["action-wise average", "85.0", "42.5", "68.0", "8.50", "450"]
    cells = [c.strip() for c in lines[-1].strip("|").split("|")]
    assert cells[0] == "frame-wise average" and cells[1] == "73.3" and cells[4] == "7.33"
    assert len(lines) == 2 + 4


def test_to_csv_roundtrip(two_actions, tmp_path):
    path = tmp_path / "out" / "metrics.csv"
    two_actions.to_csv(path)
    assert path.exists() and not Path(str(path) + ".tmp").exists()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = two_actions.table_rows()
    assert [r["action"] for r in rows] == [r["action"] for r in expected]
    for got, want in zip(rows, expected):
        assert int(got["frames"]) == want["frames"]
        assert int(got["sequences"]) == want["sequences"]
        for m in METRIC_NAMES:
            assert float(got[m]) == want[m]
    # overwriting works (os.replace onto an existing file)
    ActionwiseAccumulator([_res("S9", "Eating", "c1", 5, 0.2)]).to_csv(path)
    with open(path, newline="") as fh:
        assert [r["action"] for r in csv.DictReader(fh)][0] == "Eating"


def test_empty_accumulator_is_nan():
    acc = ActionwiseAccumulator()
    assert acc.per_action() == {}
    assert all(math.isnan(v) for v in acc.action_wise().values())
    assert [r["action"] for r in acc.table_rows()] == ["action-wise average", "frame-wise average"]


# ------------------------------------------------------------------ DDP gather (2 processes, gloo)


def _ddp_sequences() -> list[SequenceResult]:
    return [
        _res("S9", "Walking", "c1", 100, 0.04),
        _res("S9", "Walking 1", "c1", 300, 0.08),
        _res("S9", "Sitting", "c1", 50, 0.10),
        _res("S11", "Walking", "c2", 20, 0.30),  # evaluated on both ranks (sampler padding)
        _res("S11", "Eating", "c2", 70, 0.06),
        _res("S11", "Sitting 1", "c3", 10, 0.50),
    ]


_RANK_SHARE = {0: [0, 1, 3], 1: [2, 3, 4, 5]}


def _ddp_worker(rank: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        seqs = _ddp_sequences()
        acc = ActionwiseAccumulator()
        acc.extend(seqs[i] for i in _RANK_SHARE[rank])
        gathered = acc.gather()
        if rank == 0:
            payload = {"action_wise": gathered.action_wise(), "n": len(gathered), "frame_wise": gathered.frame_wise()}
            with open(out_file, "w") as fh:
                json.dump(payload, fh)
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
@pytest.mark.timeout(120)
def test_gather_ddp_matches_single_process(tmp_path):
    import torch.multiprocessing as mp

    out_file = tmp_path / "rank0.json"
    mp.spawn(_ddp_worker, args=(str(tmp_path / "pg_init"), str(out_file)), nprocs=2, join=True)
    got = json.loads(out_file.read_text())

    union = ActionwiseAccumulator(_ddp_sequences())
    assert got["n"] == len(union) == 6
    for m in METRIC_NAMES:
        assert got["action_wise"][m] == pytest.approx(union.action_wise()[m], rel=1e-12)
        assert got["frame_wise"][m] == pytest.approx(union.frame_wise()[m], rel=1e-12)
    # sanity: rank 0's share alone, or counting the duplicate twice, gives different numbers
    alone = ActionwiseAccumulator(_ddp_sequences()[i] for i in _RANK_SHARE[0]).action_wise()
    assert got["action_wise"]["p1"] != pytest.approx(alone["p1"], rel=1e-3)
    dup = _ddp_sequences()[3]
    doubled = [*_ddp_sequences(), SequenceResult(dup.subject, dup.action, dup.take + "#", dup.camera, dup.num_frames, dup.values)]
    assert got["action_wise"]["p1"] != pytest.approx(ActionwiseAccumulator(doubled).action_wise()["p1"], rel=1e-3)
