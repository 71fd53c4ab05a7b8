"""A store written as VideoPose3D's .npz files: read back by poseact's own converter to the same data,
laid out as VideoPose3D's run.py loads it, refused where run.py would see other cameras; and the
benchmark's reader of run.py's printed table."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, build_projected_store
from poseact.convert import ConversionError, convert_h36m, load_npz_dict
from poseact.convert.npz_export import expand_h36m17_to_32, export_h36m_npz
from poseact.skeleton import H36M32, H36M32_TO_17
from poseact.store import open_store, write_store

#: the joints run.py's Human36mDataset removes on load (VideoPose3D common/h36m_dataset.py)
RUN_PY_REMOVED = [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]


def by_clip(store) -> dict[tuple[str, str, str], slice]:
    """(subject, take, camera id) -> the clip's frames."""
    return {(str(s), str(t), str(store.cameras.name[c])): slice(int(a), int(a + n))
            for s, t, c, a, n in zip(store.clips.subject, store.clips.take, store.clips.camera,
                                     store.clips.start, store.clips.length)}


def round_trip(store_path: Path, tmp_path: Path):
    original = open_store(store_path)
    p3, p2 = export_h36m_npz(original, tmp_path / "data", "poseact")
    assert (p3.name, p2.name) == ("data_3d_h36m.npz", "data_2d_h36m_poseact.npz")
    return original, open_store(convert_h36m(p3, p2, tmp_path / "back.h5")), (p3, p2)


@pytest.mark.parametrize("kind", ["synthetic (world 3-D kept)", "projected (camera 3-D only, one unlabeled subject)"])
def test_round_trip_through_poseacts_converter(kind, tiny_synthetic, tmp_path):
    if kind.startswith("synthetic"):
        path = tiny_synthetic
    else:
        path = write_store(tmp_path / "p.h5", build_projected_store(subjects=("S1", "S9"), unlabeled=("S5",)))
    a, b, _ = round_trip(path, tmp_path)
    clips_a, clips_b = by_clip(a), by_clip(b)
    assert sorted(clips_a) == sorted(clips_b)
    labeled_a = dict(zip(clips_a, a.labeled_clips()))
    labeled_b = dict(zip(clips_b, b.labeled_clips()))
    assert labeled_a == labeled_b
    assert any(labeled_a.values())
    assert (not all(labeled_a.values())) == kind.startswith("projected")
    for key, sa in clips_a.items():
        sb = clips_b[key]
        np.testing.assert_array_equal(a.keypoints[sa], b.keypoints[sb])
        if labeled_a[key]:  # camera space via the H36M table again: float32 rounding only (~4 m x 2^-23)
            np.testing.assert_allclose(b.pose3d[sb], a.pose3d[sa], rtol=0, atol=1e-5)
        else:
            assert np.isnan(b.pose3d[sb]).all()
    assert sorted(a.actions) == sorted(b.actions)


def test_files_as_run_py_loads_them(tiny_synthetic, tmp_path):
    store, _, (p3, p2) = round_trip(tiny_synthetic, tmp_path)
    # what run.py does on load: np.load(allow_pickle=True)[key].item(), 32 joints, 15 removed
    positions_3d = np.load(p3, allow_pickle=True)["positions_3d"].item()
    f2 = np.load(p2, allow_pickle=True)
    keypoints, metadata = f2["positions_2d"].item(), f2["metadata"].item()
    assert metadata["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert metadata["num_joints"] == 17 and metadata["layout_name"] == "h36m"
    kept = [j for j in range(32) if j not in RUN_PY_REMOVED]
    assert tuple(kept) == H36M32_TO_17
    clips = by_clip(store)
    cams = ["54138969", "55011271", "58860488", "60457274"]
    assert set(positions_3d) == set(store.clips.subject)
    for subject, takes in positions_3d.items():
        for take, world in takes.items():
            assert world.dtype == np.float32 and world.shape[1:] == (32, 3)
            views = keypoints[subject][take]
            assert len(views) == 4  # run.py: 'Camera count mismatch' otherwise
            for cam, view in zip(cams, views):
                s = clips[subject, take, cam]
                assert view.dtype == np.float32 and view.shape == (len(world), 17, 2)
                np.testing.assert_array_equal(view, store.keypoints[s])
                np.testing.assert_array_equal(world[:, kept], store.pose3d_world[s])


def test_dropped_joints_sit_on_their_parent():
    pose = np.random.default_rng(0).normal(size=(5, 17, 3)).astype(np.float32)
    full = expand_h36m17_to_32(pose)
    np.testing.assert_array_equal(full[:, H36M32_TO_17], pose)
    for j in RUN_PY_REMOVED:
        np.testing.assert_array_equal(full[:, j], full[:, H36M32.parents[j]])


def test_refuses_cameras_that_are_not_h36ms(tmp_path):
    store = build_projected_store(subjects=("S1", "S9"))
    moved = store.cameras.translation.copy()
    row = store.cameras.find("S9", "58860488")
    moved[row, 2] += 0.05
    bad = replace(store, cameras=replace(store.cameras, translation=moved))
    with pytest.raises(ConversionError, match=r"camera 58860488 of subject 'S9' is not Human3.6M's"):
        export_h36m_npz(bad, tmp_path / "out", "x")
    assert not (tmp_path / "out").exists()


def test_refuses_other_layouts_and_missing_cameras(tmp_path):
    store = build_projected_store(subjects=("S1",))
    with pytest.raises(ConversionError, match="need h36m17"):
        export_h36m_npz(replace(store, layout_2d="coco17"), tmp_path / "a", "x")
    keep = np.flatnonzero(store.cameras.name[store.clips.camera] != "60457274")
    with pytest.raises(ConversionError, match=r"S1/Walking 1 has no clip of camera\(s\) \['60457274'\]"):
        export_h36m_npz(replace(store, clips=store.clips.select(keep)), tmp_path / "b", "x")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_written_files_are_poseacts_npz_dicts(tmp_path):
    store = build_projected_store(subjects=("S1",))
    p3, p2 = export_h36m_npz(store, tmp_path, "gt")
    assert set(load_npz_dict(p2, "positions_2d")) == {"S1"}
    assert set(load_npz_dict(p3, "positions_3d")["S1"]) == {"Walking 1", "Sitting 1"}


RUN_PY_TAIL = """\
[1] time 0.52 lr 0.001000 3d_train 210.123456 3d_eval 150.5 3d_valid 160.250000
[2] time 0.48 lr 0.000950 3d_train 120.0 3d_eval 100.1 traj_eval 90.0 3d_valid 98.500000 traj_valid 1.0 2d_train_sup 1 2d_train_unsup 1 2d_valid 1
Evaluating...
----Walking----
Protocol #1 Error (MPJPE): 93.1 mm
Protocol #1   (MPJPE) action-wise average: 120.4 mm
Protocol #2 (P-MPJPE) action-wise average: 96.7 mm
Protocol #3 (N-MPJPE) action-wise average: 113.8 mm
Velocity      (MPJVE) action-wise average: 10.03 mm
"""


def test_benchmark_reads_run_pys_table():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import videopose3d
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = videopose3d.parse_output(RUN_PY_TAIL)
    assert (out["p1"], out["p2"], out["n_mpjpe"], out["mpjve"]) == (120.4, 96.7, 113.8, 10.03)
    assert out["epoch_minutes"] == [0.52, 0.48] and out["val_p1"] == [160.25, 98.5]
    with pytest.raises(KeyError, match="Protocol #2"):
        videopose3d.parse_output(RUN_PY_TAIL.replace("Protocol #2", "P2"))


def _fake_clone(folder: Path, shift_mm: float = 0.0) -> Path:
    """A folder laid out as a VideoPose3D clone whose common/h36m_dataset.py holds poseact's H36M table
    (translation of S9's first camera moved by ``shift_mm``), written as the reference writes it."""
    from poseact.geometry import h36m_cameras

    table = h36m_cameras()
    def floats(values) -> list[float]:
        return [float(v) for v in values]

    intrinsic = [{"id": c.id, "center": floats(c.center), "focal_length": floats(c.focal_length),
                  "radial_distortion": floats(c.radial_distortion),
                  "tangential_distortion": floats(c.tangential_distortion),
                  "res_w": int(c.res_w), "res_h": int(c.res_h), "azimuth": float(c.azimuth)} for c in table["S1"]]
    extrinsic = {s: [{"orientation": floats(c.orientation), "translation": [1000 * v for v in floats(c.translation)]}
                     for c in cams] for s, cams in table.items() if all(c.has_extrinsics for c in cams)}
    extrinsic["S9"][0]["translation"][0] += shift_mm
    (folder / "common").mkdir(parents=True)
    (folder / "run.py").write_text("raise SystemExit('not run by the test')\n")
    (folder / "common/generators.py").write_text("")
    (folder / "common/h36m_dataset.py").write_text(
        "import numpy as np\nfrom common.skeleton import Skeleton\n\n"
        f"h36m_cameras_intrinsic_params = {intrinsic!r}\n\nh36m_cameras_extrinsic_params = {extrinsic!r}\n\n"
        "class Human36mDataset:\n    pass\n")
    return folder


def test_benchmark_checks_the_clones_camera_table(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import videopose3d
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    subjects = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
    same = videopose3d.check_clone(_fake_clone(tmp_path / "same"))
    assert videopose3d.check_cameras(same, subjects) < 1e-9
    moved = videopose3d.check_clone(_fake_clone(tmp_path / "moved", shift_mm=5.0))
    with pytest.raises(SystemExit, match="differ from VideoPose3D's by 5"):
        videopose3d.check_cameras(moved, subjects)
    assert videopose3d.check_cameras(moved, ["S1", "S11"]) < 1e-9  # S9 not used: not checked
    with pytest.raises(SystemExit, match="not a VideoPose3D clone .missing run.py"):
        videopose3d.check_clone(tmp_path / "empty")
