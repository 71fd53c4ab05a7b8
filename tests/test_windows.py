"""Windows and samplers: vectorised gathers equal a naive loop; reference padding semantics."""

import numpy as np
import pytest

import torch

from poseact.geometry import mirror_points
from poseact.lifting.windows import (
    SequenceViews, Windowing, deterministic_random, gather_windows, pad_sequence, sequence_rows, subset_window,
    window_rows,
)
from poseact.run.sharding import EpochPermutation, ShardedBatchSampler


def _views(lengths, steps=None):
    lengths = np.asarray(lengths, np.int64)
    base = np.concatenate([[0], np.cumsum(lengths)[:-1]]) + 100  # not starting at row 0
    steps = np.ones(len(lengths), np.int64) if steps is None else np.asarray(steps, np.int64)
    return SequenceViews(base=base, step=steps, length=-(-lengths // steps), clip=np.arange(len(lengths)))


def test_reference_edge_replication_example():
    # spec §6.1: L=6, pad=2, chunk 1 — frame 0 sees [0,0,0,1,2], frame 5 sees [3,4,5,5,5]
    v = _views([6])
    rows = window_rows(v, np.array([0, 0]), np.array([0, 5]), Windowing.centred(2)) - 100
    assert rows.tolist() == [[0, 0, 0, 1, 2], [3, 4, 5, 5, 5]]
    # causal (shift = pad = 2): frame 0 sees [0,0,0,0,0], frame 3 sees [0,0,1,2,3]
    rows = window_rows(v, np.array([0, 0]), np.array([0, 3]), Windowing.centred(2, 2)) - 100
    assert rows.tolist() == [[0, 0, 0, 0, 0], [0, 0, 1, 2, 3]]


def test_vectorised_windows_equal_naive_loop():
    rng = np.random.default_rng(0)
    v = _views([5, 40, 13, 1], steps=[1, 2, 1, 1])
    seq, pos = v.samples()
    pad = 4
    fast = window_rows(v, seq, pos, Windowing.centred(pad))
    for (s, p), row in zip(zip(seq, pos), fast):
        frames = [v.base[s] + v.step[s] * min(max(p + o, 0), v.length[s] - 1) for o in range(-pad, pad + 1)]
        assert row.tolist() == frames
    assert len(seq) == v.num_frames and rng is not None


def test_sequence_rows_pad_for_the_dilated_model():
    v = _views([4])
    assert (sequence_rows(v, 0, 2, 2) - 100).tolist() == [0, 0, 0, 1, 2, 3, 3, 3]
    # causal: 2*pad frames before, none after
    assert (sequence_rows(v, 0, 4, 0) - 100).tolist() == [0, 0, 0, 0, 0, 1, 2, 3]


def test_mirror_negates_x_and_swaps_for_numpy_and_torch():
    pts = np.arange(3 * 3, dtype=np.float32).reshape(3, 3)  # x, y, confidence
    out = mirror_points(pts, np.array([0, 2, 1]))
    assert out.tolist() == [[-0.0, 1, 2], [-6, 7, 8], [-3, 4, 5]] and pts[0, 0] == 0  # a copy
    assert torch.equal(mirror_points(torch.from_numpy(pts), np.array([0, 2, 1])), torch.from_numpy(out))


def test_one_padding_rule_for_rows_and_arrays():
    """Evaluation pads store rows, inference pads arrays: both edge-replicate pad + shift frames before."""
    views = _views([5])
    x = np.arange(100, 105)
    for pad, shift in ((2, 0), (2, 2), (0, 0)):
        rows = sequence_rows(views, 0, pad + shift, pad - shift)
        assert pad_sequence(x, pad + shift, pad - shift).tolist() == rows.tolist()
    assert pad_sequence(x, 4, 0).tolist() == [100, 100, 100, 100, 100, 101, 102, 103, 104]


def test_subset_rule_matches_reference_examples():
    # spec §5.7
    assert subset_window(100, 0.1, 1) == (37, 10)
    assert subset_window(1383, 0.1, 1) == (403, 138)
    assert subset_window(5000, 0.1, 1) == (3229, 500)
    assert 0 <= deterministic_random(0, 5, "abc") < 5


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a, b = EpochPermutation(100, seed=3), EpochPermutation(100, seed=3)
    a.set_epoch(2)
    for _ in range(5):
        b.set_epoch(_)
    b.set_epoch(2)
    assert (a.order() == b.order()).all()
    a.set_epoch(3)
    assert not (a.order() == b.order()).all()
    assert sorted(a.order()) == list(range(100))


def test_single_process_batching_is_the_reference_one():
    batches = list(ShardedBatchSampler(EpochPermutation(2049, shuffle=False), 1024))
    assert [len(b) for b in batches] == [1024, 1025]  # a 1-sample tail joins the last batch (BatchNorm)
    batches = list(ShardedBatchSampler(EpochPermutation(2100, shuffle=False), 1024))
    assert [len(b) for b in batches] == [1024, 1024, 52]


@pytest.mark.parametrize("n,world", [(1000, 2), (1001, 2), (999, 3), (10, 4)])
def test_ddp_shards_are_disjoint_complete_and_equal_in_steps(n, world):
    perm = EpochPermutation(n, seed=1)
    perm.set_epoch(4)
    shards = [list(ShardedBatchSampler(perm, 64, rank, world)) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1
    seen = np.concatenate([np.concatenate(s) for s in shards])
    assert sorted(seen.tolist()) == list(range(n))
    assert min(len(b) for s in shards for b in s) >= 2


def test_bad_sampler_arguments():
    with pytest.raises(ValueError, match="empty dataset"):
        EpochPermutation(0)
    with pytest.raises(ValueError, match="batch_size"):
        ShardedBatchSampler(EpochPermutation(4), 0)


@pytest.mark.parametrize("pad,shift", [(0, 0), (2, 0), (4, 4), (13, 0)])
def test_block_gather_equals_row_gather(pad, shift):
    rng = np.random.default_rng(1)
    v = _views([5, 40, 13, 1, 30], steps=[1, 2, 1, 1, 1])
    array = rng.normal(size=(v.base[-1] + 30 * 1 + 5, 3, 2)).astype(np.float32)
    seq, pos = v.samples()
    expected = array[window_rows(v, seq, pos, Windowing.centred(pad, shift))]
    np.testing.assert_array_equal(gather_windows(array, v, seq, pos, Windowing.centred(pad, shift)), expected)
