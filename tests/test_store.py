"""The HDF5 store: round trip, validation errors that name the problem, atomic writes."""

import os

import h5py
import numpy as np
import pytest

from conftest import build_projected_store
from poseact.store import SCHEMA, StoreError, describe, open_store, write_store


def test_round_trip_preserves_everything(tmp_path):
    store = build_projected_store(unlabeled=("S2",))
    path = write_store(tmp_path / "s.h5", store)
    back = open_store(path)
    np.testing.assert_array_equal(back.keypoints, store.keypoints)
    np.testing.assert_array_equal(back.pose3d, store.pose3d)
    assert back.actions == store.actions and back.layout_2d == "h36m17" and back.fps == 50
    assert list(back.clips.subject) == list(store.clips.subject)
    np.testing.assert_array_equal(back.cameras.intrinsics, store.cameras.intrinsics)
    assert back.labeled_clips().sum() == len(store.clips) - 2 * 4  # S2: 2 actions x 4 cameras
    with h5py.File(path) as f:
        assert f.attrs["schema"] == SCHEMA and f["frames/keypoints"].compression is None
    text = describe(back)
    assert "S2" in text and "Walking" in text


def test_missing_file(tmp_path):
    with pytest.raises(StoreError, match="not found"):
        open_store(tmp_path / "nope.h5")


def test_corrupt_and_truncated_files(tmp_path, projected_store):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(StoreError, match="corrupt or truncated"):
        open_store(junk)
    data = projected_store.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="cut.h5"):
        open_store(cut)


def test_wrong_schema_version(tmp_path, projected_store):
    with h5py.File(projected_store, "a") as f:
        f.attrs["schema"] = "poseact/0"
    with pytest.raises(StoreError, match="schema 'poseact/0'"):
        open_store(projected_store)


def test_wrong_joint_count_names_layout(tmp_path):
    store = build_projected_store()
    store.keypoints = np.zeros((store.num_frames, 16, 2), np.float32)
    with pytest.raises(StoreError, match="16 joints, layout h36m17 expects 17"):
        write_store(tmp_path / "bad.h5", store)


def test_nan_in_labeled_clip_names_clip_and_frame(tmp_path):
    store = build_projected_store()
    start = store.clips.start[5]
    store.pose3d[start + 7, 3] = np.nan
    with pytest.raises(StoreError, match=rf"NaN/inf in frames/pose3d of labeled clip {store.clip_name(5)} at frame 7"):
        write_store(tmp_path / "bad.h5", store)


def test_nan_keypoints_are_rejected(tmp_path):
    store = build_projected_store()
    store.keypoints[store.clips.start[2] + 3, 0, 1] = np.inf
    with pytest.raises(StoreError, match="NaN/inf in frames/keypoints of clip S1/"):
        write_store(tmp_path / "bad.h5", store)


def test_nan_3d_is_fine_in_unlabeled_clips(tmp_path):
    store = build_projected_store(unlabeled=("S2",))
    assert np.isnan(store.pose3d).any()
    open_store(write_store(tmp_path / "ok.h5", store))


def test_clip_outside_frames(tmp_path):
    store = build_projected_store()
    store.clips.length[-1] += 5
    with pytest.raises(StoreError, match="outside 0:"):
        write_store(tmp_path / "bad.h5", store)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = build_projected_store()
    target = tmp_path / "out.h5"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("interrupted")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(KeyboardInterrupt):
        write_store(target, store)
    assert os.listdir(tmp_path) == []


def test_existing_file_survives_a_failed_rewrite(tmp_path, monkeypatch, projected_store):
    before = projected_store.read_bytes()
    monkeypatch.setattr(h5py.Group, "create_dataset", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_store(projected_store, build_projected_store(seed=1))
    assert projected_store.read_bytes() == before
    assert sorted(p.name for p in projected_store.parent.iterdir()) == [projected_store.name]
