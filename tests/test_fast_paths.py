"""Every fast path computes what the plain one does: the fused ReLU + dropout against ``nn.ReLU`` +
``nn.Dropout``, Procrustes without a per-frame SVD against the SVD, the one-pass sequence metrics
against the metric functions, windows normalised as they are read (from a read or a memory-mapped
store) against the reference's normalisation of the whole array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from poseact.nn import ReluDropout, _ReluDropout, keep_mask


@pytest.mark.parametrize("p", [0.25, 0.1, 0.5])
def test_keep_mask_is_bernoulli(p):
    torch.manual_seed(0)
    mask = keep_mask((400, 1000), p)
    assert mask.dtype == torch.bool and mask.shape == (400, 1000)
    n = mask.numel()
    sigma = (p * (1 - p) / n) ** 0.5
    assert abs(mask.float().mean().item() - (1 - p)) < 5 * sigma
    # independent elements: neighbours agree as often as two independent draws would
    agree = (mask[:, 1:] == mask[:, :-1]).float().mean().item()
    assert abs(agree - (p ** 2 + (1 - p) ** 2)) < 0.01
    # every bit position of the random words is used: no byte lane is biased
    lanes = mask.reshape(-1)[: n - n % 8].reshape(-1, 8).float().mean(0)
    assert (lanes - (1 - p)).abs().max() < 0.01


def test_keep_mask_follows_the_seed():
    torch.manual_seed(3)
    a = keep_mask((7, 13), 0.25)
    torch.manual_seed(3)
    assert torch.equal(a, keep_mask((7, 13), 0.25))
    assert not torch.equal(a, keep_mask((7, 13), 0.25))


def test_relu_dropout_equals_relu_then_dropout_with_the_same_mask():
    torch.manual_seed(0)
    x = torch.randn(64, 33, dtype=torch.float64, requires_grad=True)
    keep = keep_mask(x.shape, 0.25)
    scale = 1 / 0.75
    fused = _ReluDropout.apply(x, keep.double() * scale, scale)
    plain = torch.relu(x) * keep.double() * scale
    assert torch.equal(fused, plain)
    grad = torch.randn_like(x)
    (g_fused,) = torch.autograd.grad(fused, x, grad)
    (g_plain,) = torch.autograd.grad(plain, x, grad)
    assert torch.allclose(g_fused, g_plain, rtol=0, atol=1e-15)
    assert torch.autograd.gradcheck(lambda t: _ReluDropout.apply(t, keep.double() * scale, scale),
                                    (x.detach().clone().requires_grad_(),))


def test_relu_dropout_statistics_and_modes():
    layer = ReluDropout(0.25)
    x = torch.rand(2000, 500) + 0.5  # positive: the output is x / 0.75 where kept, 0 where dropped
    torch.manual_seed(1)
    out = layer.train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.005
    assert torch.allclose(out[kept], x[kept] / 0.75)
    assert abs(out.mean().item() - x.mean().item()) < 0.01  # unbiased, as nn.Dropout
    z = torch.randn(50, 20)
    assert torch.equal(layer.eval()(z), nn.ReLU()(z))
    assert torch.equal(ReluDropout(0.0).train()(z), torch.relu(z))
    assert torch.isnan(layer.train()(torch.full((4, 4), float("nan")))).all()  # NaN is not hidden
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        ReluDropout(1.0)


def test_procrustes_without_svd_equals_the_svd_rotation():
    from poseact.metrics.pose import _procrustes_rotation, _procrustes_rotation_svd

    rng = np.random.default_rng(0)
    H = rng.normal(size=(5000, 3, 3))  # half of them have det < 0: the reflection fix
    H[:3] = 0  # degenerate rows go to the SVD path, as the reference computes them
    H[3] = np.diag([1.0, 1e-9, 1e-9])  # nearly singular
    for allow in (False, True):
        R_fast, trace_fast = _procrustes_rotation(H, allow)
        R_svd, trace_svd = _procrustes_rotation_svd(H, allow)
        np.testing.assert_allclose(R_fast, R_svd, rtol=0, atol=1e-10)
        np.testing.assert_allclose(trace_fast, trace_svd, rtol=0, atol=1e-10)


def test_sequence_metrics_equal_the_metric_functions():
    from poseact.metrics import mpjpe, n_mpjpe, p_mpjpe, sequence_metrics
    from poseact.metrics.pose import mean_velocity_error

    rng = np.random.default_rng(1)
    target = rng.normal(size=(40, 17, 3)) * 0.3
    target[:, 0] = 0
    pred = target + rng.normal(size=target.shape) * 0.05
    got = sequence_metrics(pred, target)
    p, q = torch.from_numpy(pred)[None], torch.from_numpy(target)[None]
    assert got["p1"] == pytest.approx(float(mpjpe(p, q)), abs=1e-12)
    assert got["n_mpjpe"] == pytest.approx(float(n_mpjpe(p, q)), abs=1e-12)
    assert got["mpjve"] == pytest.approx(mean_velocity_error(pred, target), abs=1e-12)
    assert got["p2"] == pytest.approx(p_mpjpe(pred, target), abs=1e-12)
    assert sequence_metrics(pred[:1], target[:1])["mpjve"] == 0.0


# -- the store read as a lifter reads it: only what it needs, optionally memory-mapped -------------


def _reference_normalised(store) -> np.ndarray:
    """The whole keypoint array normalised clip by clip, as the reference does before training."""
    kp = store.keypoints.copy()
    for start, length, cam in zip(store.clips.start, store.clips.length, store.clips.camera):
        w, h = (int(v) for v in store.cameras.res[cam])  # python ints, as the reference's camera dicts hold
        seg = kp[start:start + length]
        seg[...] = (seg / w * 2 - [1, h / w]).astype(np.float32)
    return kp


@pytest.mark.parametrize("mmap", [False, True])
def test_windows_are_normalised_as_the_reference_normalises_the_array(tiny_synthetic, mmap):
    from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
    from poseact.lifting.windows import Windowing, window_rows
    from poseact.store import open_store

    store = open_store(tiny_synthetic, arrays=["pose3d", "confidence"], mmap=mmap)
    assert store.pose3d_world is None and isinstance(store.keypoints, np.memmap) == mmap
    before = store.keypoints.copy()
    expected = _reference_normalised(store)
    for use_confidence in (False, True):
        arrays = LiftingArrays.from_store(store, use_confidence=use_confidence)
        views = select_sequences(store, ["S1", "S9"])
        window = Windowing.centred(13)
        data = WindowDataset(arrays, views, window, flip=False)
        idx = np.random.default_rng(0).permutation(len(data))[:300]
        batch = data.__getitems__(idx)
        seq, pos = data.seq[batch["index"].numpy()], data.pos[batch["index"].numpy()]
        rows = window_rows(views, seq, pos, window)
        want = expected[rows]
        if use_confidence:
            want = np.concatenate([want, store.confidence[rows][..., None]], -1)
        np.testing.assert_array_equal(batch["keypoints"].numpy(), want)  # the same bits
        padded = arrays.sequence(views, 0, 13, 13)
        assert padded.shape == (views.length[0] + 26, 17, 3 if use_confidence else 2)
    np.testing.assert_array_equal(store.keypoints, before)  # the store itself is never changed


def test_a_mapped_store_holds_the_same_numbers_and_refuses_a_truncated_file(tiny_synthetic, tmp_path):
    from poseact.store import StoreError, open_store

    read, mapped = open_store(tiny_synthetic), open_store(tiny_synthetic, mmap=True)
    for name in ("keypoints", "confidence", "pose3d", "pose3d_world"):
        assert isinstance(getattr(mapped, name), np.memmap)
        np.testing.assert_array_equal(getattr(read, name), getattr(mapped, name))
    assert open_store(tiny_synthetic, load_3d=False).pose3d is None
    with pytest.raises(ValueError, match="unknown frame arrays"):
        open_store(tiny_synthetic, arrays=["pose"])
    cut = tmp_path / "cut.h5"
    data = tiny_synthetic.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(StoreError, match="cut.h5"):
        open_store(cut, mmap=True)


# -- the device path: windows gathered on the training device ---------------------------------


@pytest.mark.parametrize("window, subset, downsample, use_confidence", [
    ((13, 13, 1, 1), 1.0, 1, False),
    ((26, 0, 1, 1), 0.5, 2, True),  # causal, a subset, downsampled, with confidence
    ((0, 0, 27, 27), 1.0, 1, False),  # seq2seq clips: several output frames, a valid mask
])
def test_device_gather_equals_host_gather(tiny_synthetic, window, subset, downsample, use_confidence):
    from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
    from poseact.lifting.device_windows import DeviceWindows
    from poseact.lifting.windows import Windowing
    from poseact.store import open_store

    store = open_store(tiny_synthetic)
    arrays = LiftingArrays.from_store(store, use_confidence=use_confidence)
    views = select_sequences(store, ["S1", "S5"], subset=subset, downsample=downsample)
    data = WindowDataset(arrays, views, Windowing(*window), flip=True)
    device = DeviceWindows(data, "cpu")
    assert device.nbytes > 0
    for seed in range(3):
        idx = np.random.default_rng(seed).permutation(len(data))[:257]
        host, dev = data.__getitems__(idx), device.gather(torch.from_numpy(idx))
        assert host.keys() == dev.keys()
        for key in host:
            assert torch.equal(host[key], dev[key]), key


def test_device_gather_trains_exactly_as_host_gather(session_store, tmp_path):
    from poseact.cli import main
    from poseact.run.folder import RunFolder
    from tests.conftest import lifter_run_args

    curves = {}
    for mode in ("host", "device"):
        out = tmp_path / mode
        main(["fit", *lifter_run_args(session_store, out, f"data.gather={mode}", "trainer.max_epochs=2",
                                      "data.subjects_unlabeled=[]")])
        curves[mode] = RunFolder(out).metric_history("val/p1")
    assert len(curves["host"]) == 2 and curves["host"] == curves["device"]


def test_bf16_evaluation_is_within_a_tenth_of_a_percent_of_float32(tiny_synthetic):
    from poseact.lifting.datasets import LiftingArrays, SequenceDataset, select_sequences
    from poseact.lifting.models.temporal import TemporalLifter
    from poseact.lifting.windows import Windowing
    from poseact.metrics import sequence_metrics
    from poseact.store import open_store

    torch.manual_seed(0)
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=64).eval()
    store = open_store(tiny_synthetic)
    arrays = LiftingArrays.from_store(store)
    data = SequenceDataset(arrays, select_sequences(store, ["S9"]), Windowing.centred(model.pad))
    for i in range(3):
        item = data[i]
        target = item["pose3d"].clone()
        target[:, 0] = 0
        with torch.no_grad():
            fp32 = model(item["keypoints"][None])[0]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = model(item["keypoints"][None])[0].float()
        p1_32, p1_16 = sequence_metrics(fp32, target)["p1"], sequence_metrics(bf16, target)["p1"]
        assert abs(p1_16 - p1_32) <= 1e-3 * p1_32  # the stated tolerance: 0.1 % of P1


@pytest.mark.parametrize("options", [{}, {"causal": True}, {"dense": True}])
def test_folded_evaluation_form_equals_conv1d(options):
    """Eval mode without autograd runs time-major with BatchNorm folded: the numbers of ``conv1d``."""
    from poseact.lifting.models.temporal import TemporalLifter

    torch.manual_seed(0)
    model = TemporalLifter(17, 3, 17, [3, 3, 3], channels=32, **options)
    model.train()
    model(torch.randn(8, 40, 17, 3))  # running statistics away from (0, 1)
    model.eval()
    x = torch.randn(2, 60, 17, 3)
    with torch.no_grad():
        folded, plain = model(x), model.forward_conv(x)
    assert folded.shape == plain.shape == (2, 34, 17, 3)
    assert torch.allclose(folded, plain, atol=1e-5, rtol=1e-5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # on a CPU: conv1d; the folded form directly
        for low in (model(x), model._forward_folded(x)):
            assert low.dtype == torch.bfloat16
            assert torch.allclose(low.float(), plain, atol=0.05 * plain.abs().max().item())


@pytest.mark.parametrize("options", [{}, {"causal": True}])
def test_folded_evaluation_in_pieces_gives_the_same_numbers(options, monkeypatch):
    """A long sequence is evaluated in pieces of FOLDED_CHUNK output frames, each with its receptive field
    of context: pieces of 7 frames (the last one short) give the numbers of one piece, and of ``conv1d``."""
    import poseact.lifting.models.temporal as temporal

    torch.manual_seed(2)
    model = temporal.TemporalLifter(17, 2, 17, [3, 3, 3], channels=32, **options)
    model.train()
    model(torch.randn(8, 40, 17, 2))
    model.eval()
    x = torch.randn(2, 26 + 40, 17, 2)  # 40 output frames: 5 pieces of 7 and one of 5
    with torch.no_grad():
        whole = model(x)
        monkeypatch.setattr(temporal, "FOLDED_CHUNK", 7)
        pieces = model(x)
        plain = model.forward_conv(x)
    assert pieces.shape == whole.shape == (2, 40, 17, 3)
    assert torch.allclose(pieces, whole, atol=1e-6, rtol=1e-6)
    assert torch.allclose(pieces, plain, atol=1e-5, rtol=1e-5)


def test_folded_weights_follow_every_change_of_the_weights():
    """The folded layers are cached; an optimiser step, ``load_state_dict`` or new running statistics
    (a training forward) must show in the next evaluation."""
    from poseact.lifting.models.temporal import TemporalLifter

    torch.manual_seed(1)
    model = TemporalLifter(17, 2, 17, [3, 3], channels=16).eval()
    other = TemporalLifter(17, 2, 17, [3, 3], channels=16)
    x = torch.randn(1, 30, 17, 2)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return model(x), model.forward_conv(x)

    first, _ = both()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train()
    model(torch.randn(4, 9, 17, 2)).sum().backward()  # also moves the running statistics
    opt.step()
    model.eval()
    after_step, plain = both()
    assert not torch.allclose(after_step, first) and torch.allclose(after_step, plain, atol=1e-5)
    model.load_state_dict(other.state_dict())
    loaded, plain = both()
    assert torch.allclose(loaded, plain, atol=1e-5) and not torch.allclose(loaded, after_step)


def test_folded_form_without_a_cache_and_after_pickling():
    """Weights made under inference_mode have no version counter: folded on every call; a pickled or
    copied module carries no cache."""
    import copy
    import io

    from poseact.lifting.models.temporal import TemporalLifter

    x = torch.randn(1, 30, 17, 2)
    with torch.inference_mode():
        made_here = TemporalLifter(17, 2, 17, [3, 3], channels=16).eval()
        assert torch.allclose(made_here(x), made_here.forward_conv(x), atol=1e-5)
    model = TemporalLifter(17, 2, 17, [3, 3], channels=16).eval()
    with torch.no_grad():
        before = model(x)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for other in (torch.load(buffer, weights_only=False), copy.deepcopy(model)):
        assert other._fold_cache is None
        with torch.no_grad():
            assert torch.allclose(other(x), before)


def _file_backed_kb() -> int:
    """This process's resident file-backed memory (kB), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="resident memory read from Linux's /proc")
def test_opening_a_mapped_store_leaves_its_pages_out_of_the_process(tiny_synthetic):
    """The open-time checks (checksums, finite values, degenerate frames) read every page of a mapped
    store; each block is released once checked, so the store is not the process's memory until used."""
    from poseact.store import open_store

    open_store(tiny_synthetic)  # code and libraries paged in, the file in the OS page cache
    before = _file_backed_kb()
    mapped = open_store(tiny_synthetic, arrays=["pose3d"], mmap=True)
    opened = _file_backed_kb() - before
    size_kb = (mapped.keypoints.nbytes + mapped.pose3d.nbytes) // 1024
    assert size_kb > 2000  # large enough to see (a few MB)
    assert opened < 0.2 * size_kb, (opened, size_kb)
    # the control: reading the arrays does make them resident (the measure can see them)
    total = float(mapped.keypoints.sum(dtype=np.float64)) + float(mapped.pose3d.sum(dtype=np.float64))
    assert _file_backed_kb() - before > 0.8 * size_kb
    read = open_store(tiny_synthetic, arrays=["pose3d"])
    assert total == float(read.keypoints.sum(dtype=np.float64)) + float(read.pose3d.sum(dtype=np.float64))


def test_an_evaluation_item_releases_its_rows_of_a_mapped_store(tiny_synthetic, monkeypatch):
    """SequenceDataset copies each sequence, then releases its rows (and the pages a fault maps around them)
    of every mapped array: the items equal an in-memory store's. What that saves on a whole job is measured
    in benchmarks/RESULTS.md ("Evaluation data released after each sequence")."""
    import poseact.lifting.datasets as datasets
    from poseact.lifting.windows import Windowing
    from poseact.store import open_store

    released: list[tuple[int, int, int]] = []
    real = datasets.release_rows
    monkeypatch.setattr(datasets, "release_rows", lambda arr, lo, hi: (released.append((id(arr), lo, hi)),
                                                                         real(arr, lo, hi)))
    read, mapped = open_store(tiny_synthetic), open_store(tiny_synthetic, mmap=True)
    window = Windowing.centred(13)
    expected = datasets.SequenceDataset(datasets.LiftingArrays.from_store(read),
                                        datasets.select_sequences(read, ["S9"]), window)
    views = datasets.select_sequences(mapped, ["S9"])
    data = datasets.SequenceDataset(datasets.LiftingArrays.from_store(mapped), views, window)
    for i in range(len(data)):
        released.clear()
        item, same = data[i], expected[i]
        assert torch.equal(item["keypoints"], same["keypoints"]) and torch.equal(item["pose3d"], same["pose3d"])
        rows = views.frame_rows(i)
        for arr in (mapped.keypoints, mapped.pose3d, mapped.confidence):
            spans = [(lo, hi) for who, lo, hi in released if who == id(arr)]
            assert len(spans) == 1 and spans[0][0] < rows.min() and spans[0][1] > rows.max() + 1, (i, spans)


def test_releasing_a_mapped_block_never_discards_data(tmp_path):
    """Release is advice on a read-only mapping only: rows read back unchanged after it; a copy-on-write
    mapping's edits and an in-memory array are left alone; an empty array has a checksum."""
    import zlib

    from poseact.store.io import _crc32
    from poseact.store.mapping import release_rows

    data = np.arange(51 * 6_000, dtype=np.float32).reshape(-1, 17, 3)
    path = tmp_path / "rows.bin"
    data.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r", offset=4 * 51 * 7, shape=(2_000, 17, 3))
    expected = data.reshape(-1)[51 * 7:51 * 7 + mapped.size].reshape(mapped.shape)
    release_rows(mapped, 10, 1_500)
    np.testing.assert_array_equal(mapped, expected)
    edited = np.memmap(path, dtype=np.float32, mode="c", shape=(2_000, 17, 3))
    edited[:100] = -1.0
    release_rows(edited, 0, 2_000)
    assert (edited[:100] == -1.0).all()  # a copy-on-write mapping keeps its edits
    in_memory = expected.copy()
    release_rows(in_memory, 0, 2_000)
    np.testing.assert_array_equal(in_memory, expected)
    assert _crc32(np.zeros((0, 17, 2), np.float32)) == zlib.crc32(b"")
    assert _crc32(mapped) == _crc32(np.ascontiguousarray(expected))  # blockwise over a mapping = whole
