"""Image-dataset converters (MPII, Penn Action, NTU RGB+D, Human3.6M frames) and lazy image loading.

Every input is written here in the dataset's exact original format: the MPII release's nested MATLAB
struct ``RELEASE`` (``scipy.io.savemat``), Penn Action's per-video label ``.mat`` files and
``frames/NNNN/000001.jpg``, NTU's ``.skeleton`` text files with frames extracted as JPEGs, and frames
of Human3.6M videos beside a pose store. Images are tiny and drawn with Pillow; some carry bright dots
at the annotated joints so that a crop can be checked against its targets. The MPII and Penn Action
builders live in ``helpers/image_datasets.py`` (shared with ``test_multitask_mixing.py``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from poseact.multitask.clips import AugmentConfig, ClipDataset
from poseact.convert import (
    ConversionError,
    ConversionWarning,
    InputNotFoundError,
    convert_h36m_frames,
    convert_mpii,
    convert_ntu,
    convert_penn_action,
    read_skeleton,
)
from poseact.convert.ntu import KINECT_V2_COLOR
from poseact.store.images import FrameImageError
from poseact.store import StoreError, open_store, write_store
from poseact.errors import LayoutError
from poseact.layouts import joint_map
from poseact.skeleton import get_skeleton

from conftest import REPO, build_projected_store
from helpers.image_datasets import (
    RECT_FIELDS,
    dot_image,
    mpii_person,
    struct_array,
    write_mpii,
    write_penn,
)

MPII16 = get_skeleton("mpii16").joint_names
H36M17 = get_skeleton("h36m17").joint_names
AUG = AugmentConfig(rotation=[25.0], scales=[1.3], shift_x=[6.0], shift_y=[-4.0], gammas=[1.0], flip=True)


def warned(record, text: str) -> bool:
    """Whether one of the recorded warnings contains ``text``."""
    return any(text in str(w.message) for w in record)


def assert_dots_on_targets(sample: dict, size: int) -> int:
    """Every visible target lies on a bright dot of its crop; returns how many were checked."""
    checked = 0
    for t in range(sample["frames"].shape[0]):
        frame = (sample["frames"][t].mean(0) + 1) / 2  # (S, S) in [0, 1]
        uv = (sample["pose"][t, :, :2] * size).numpy()
        for u, v in uv[np.isfinite(uv).all(-1)]:
            patch = frame[max(int(v) - 2, 0):int(v) + 3, max(int(u) - 2, 0):int(u) + 3]
            assert patch.max() > 0.3, f"no dot near target ({u:.1f}, {v:.1f}) in frame {t}"
            checked += 1
    return checked


# ------------------------------------------------------------------------------------------
# MPII: the official MATLAB struct


@pytest.fixture
def mpii(tmp_path):
    """Three images: a.jpg (2 people, one with 11 joints), b.jpg (a person without joints), c.jpg (test)."""
    return write_mpii(tmp_path)


def test_mpii_store_values_and_layout(mpii, tmp_path):
    with pytest.warns(ConversionWarning) as record:
        store = open_store(convert_mpii(mpii["mat"], tmp_path / "out" / "mpii.h5", images=mpii["root"] / "images",
                                        val_images=["b.jpg"], actions="activity"))
    assert warned(record, "skipped 1 test images") and warned(record, "skipped 1 people without joint annotations")
    assert store.layout_2d == "mpii16" and store.partial and store.pose3d is None
    assert list(store.clips.take) == ["a.jpg#1", "a.jpg#2"] and list(store.clips.subject) == ["train", "train"]
    assert store.actions == ["rock climbing"] and list(store.clips.action) == [0, 0]
    for row, person in ((0, mpii["p1"]), (1, mpii["p2"])):
        kp = store.keypoints[row]
        for j in range(16):
            if j in person:
                assert np.allclose(kp[j], person[j])
            else:
                assert np.isnan(kp[j]).all()  # not annotated -> NaN, never a made-up position
    # reference crop: s = 1.25·scale, centre objpos + (0, 12 s), side 200 s; PCKh: 0.6 × head diagonal
    s = 1.25 * 0.9
    assert np.allclose(store.boxes[0], [130 - 100 * s, 130 + 12 * s - 100 * s, 130 + 100 * s, 130 + 12 * s + 100 * s])
    assert np.allclose(store.head_size, 0.6 * np.hypot(24, 32))
    assert list(store.image_ref) == ["../mpii/images/a.jpg"] * 2  # relative to the store's folder
    assert "skipped 1 people without joint annotations" in store.notes
    assert "1 of 1 val_images were not among the annotated people" in store.notes
    # h36m17: the same joints by name, spine (MPII has none) NaN
    with pytest.warns(ConversionWarning):
        h36 = open_store(convert_mpii(mpii["mat"], tmp_path / "h36.h5", images=mpii["root"] / "images",
                                      layout="h36m17", single_person=True))
    assert len(h36.clips) == 1 and h36.clips.take[0] == "a.jpg#2" and h36.clips.action[0] == -1 and not h36.actions
    assert np.isnan(h36.keypoints[0, H36M17.index("spine")]).all()
    for name in ("head", "neck", "left_wrist", "right_ankle"):
        j = MPII16.index(name)
        assert np.array_equal(h36.keypoints[0, H36M17.index(name)], store.keypoints[1, j], equal_nan=True)


def test_mpii_lazy_crops_follow_targets(mpii, tmp_path):
    with pytest.warns(ConversionWarning):
        store = open_store(convert_mpii(mpii["mat"], tmp_path / "mpii.h5", images=mpii["root"] / "images"))
    test = ClipDataset(store, np.arange(2), 1, [1], size=64)
    sample = test[0]
    assert sample["frames"].shape == (1, 3, 64, 64) and sample["frames"].min() >= -1 and sample["frames"].max() <= 1
    assert sample["action"].item() == -1 and torch.isnan(sample["intrinsics"]).all()
    assert torch.allclose(sample["head_size"], torch.tensor(0.6 * np.hypot(24, 32) / (200 * 1.25 * 0.9)).float())
    assert assert_dots_on_targets(sample, 64) == 16
    train = ClipDataset(store, np.arange(2), 4, [1], augment=AUG, pseudo=True, length=2, size=64)
    assert sum(assert_dots_on_targets(train[i], 64) for i in range(2)) > 20
    assert bool(train[0]["visible"].any())


def test_mpii_bad_input(mpii, tmp_path):
    images = mpii["root"] / "images"
    with pytest.raises(InputNotFoundError, match="file not found"):
        convert_mpii(tmp_path / "none.mat", tmp_path / "o.h5", images=images)
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(ConversionError, match="not a readable MATLAB"):
        convert_mpii(tmp_path / "text.mat", tmp_path / "o.h5", images=images)
    scipy.io.savemat(tmp_path / "other.mat", {"annolist": np.zeros(3)})
    with pytest.raises(ConversionError, match="no MATLAB struct 'RELEASE'"):
        convert_mpii(tmp_path / "other.mat", tmp_path / "o.h5", images=images)
    with pytest.raises(LayoutError, match="coco17"):
        convert_mpii(mpii["mat"], tmp_path / "o.h5", images=images, layout="coco17")
    # a missing image: an error naming it, or a counted skip
    (images / "a.jpg").rename(images / "x.jpg")
    with pytest.raises(ConversionError, match="a.jpg' not found"):
        convert_mpii(mpii["mat"], tmp_path / "o.h5", images=images)
    assert not (tmp_path / "o.h5").exists()
    (images / "x.jpg").rename(images / "a.jpg")
    # a person box outside the image, an unknown joint id
    def release(*people):
        rects = struct_array(list(people), RECT_FIELDS)
        annolist = struct_array([{"image": {"name": "a.jpg"}, "annorect": rects}], ["image", "annorect"])
        scipy.io.savemat(tmp_path / "bad.mat", {"RELEASE": {"annolist": annolist, "img_train": np.array([[1]])}})
        return tmp_path / "bad.mat"

    outside = mpii_person(mpii["p1"], (900, 130), 0.9)
    unknown_joint = mpii_person({**mpii["p2"], 17: (1.0, 2.0)}, (300, 130), 0.8)
    with pytest.raises(ConversionError, match=r"annorect\(1\): person box .* lies outside the image 420x300"):
        convert_mpii(release(outside), tmp_path / "o.h5", images=images)
    with pytest.raises(ConversionError, match="joint id 17 has no mapping"):
        convert_mpii(release(unknown_joint), tmp_path / "o.h5", images=images)
    with pytest.warns(ConversionWarning) as record:
        store = open_store(convert_mpii(release(outside, unknown_joint, mpii_person(mpii["p2"], (300, 130), 0.8)),
                                        tmp_path / "o.h5", images=images, on_bad="skip"))
    assert list(store.clips.take) == ["a.jpg#3"] and "skipped 1 people with unknown joint ids" in store.notes
    assert warned(record, "skipped 1 people whose box is outside the image")


# ------------------------------------------------------------------------------------------
# Penn Action: labels/NNNN.mat + frames/NNNN/000001.jpg


@pytest.fixture
def penn(tmp_path):
    return write_penn(tmp_path)


def test_penn_store_values_left_right_and_batch(penn, tmp_path):
    store = open_store(convert_penn_action(penn["root"], tmp_path / "penn.h5"))
    assert store.layout_2d == "mpii16" and store.partial and len(store.actions) == 15
    assert list(store.clips.take) == ["0001", "0002"] and list(store.clips.subject) == ["train", "test"]
    assert [store.actions[a] for a in store.clips.action] == ["tennis_serve", "bowl"]
    assert list(store.clips.length) == [3, 5] and list(store.cameras.res[store.clips.camera].ravel()) == [96, 80, 80, 96]
    # auto: front and back views agree that the labels are person-centric -> kept
    assert "left/right: auto -> keep" in store.notes and "100.0% of 8 frames" in store.notes
    kp = penn["kp"]["0001"]
    assert np.allclose(store.keypoints[1, MPII16.index("left_shoulder")], kp[1, 1])
    assert np.allclose(store.keypoints[0, MPII16.index("head")], kp[0, 0])
    assert np.isnan(store.keypoints[0, MPII16.index("left_wrist")]).all()  # visibility 0 -> NaN
    assert np.isnan(store.keypoints[:, [MPII16.index(n) for n in ("pelvis", "thorax", "neck")]]).all()
    assert store.image_ref[4] == "Penn_Action/frames/0002/000002.jpg"
    assert np.isfinite(store.boxes).all() and (store.boxes[:, 2] - store.boxes[:, 0] >= 32).all()
    # deephar's mapping (swap) contradicts the data: warned, and applied
    with pytest.warns(ConversionWarning, match="contradicts the data"):
        swapped = open_store(convert_penn_action(penn["root"], tmp_path / "swap.h5", left_right="swap",
                                                 layout="h36m17"))
    assert np.allclose(swapped.keypoints[1, H36M17.index("right_shoulder")], kp[1, 1])
    # a clip shorter than T (3 frames, T=4) is stretched (§6.4): frames repeat, labels follow them
    ds = ClipDataset(store, np.array([0]), 4, [2], size=48)
    sample = ds[0]
    assert sample["frames"].shape == (4, 3, 48, 48) and sample["action"].item() == store.actions.index("tennis_serve")
    assert assert_dots_on_targets(sample, 48) >= 4 * 9
    assert torch.equal(sample["frames"][0], sample["frames"][1]) or torch.equal(sample["frames"][2], sample["frames"][3])
    aug = ClipDataset(store, np.arange(2), 4, [1, 2], augment=AUG, length=3, size=48)
    assert sum(assert_dots_on_targets(aug[i], 48) for i in range(3)) > 20


def test_penn_bad_input(penn, tmp_path):
    root = penn["root"]
    (root / "frames" / "0002" / "000004.jpg").unlink()
    with pytest.raises(ConversionError, match=r"1 of 5 frame files missing \(first: .*0002/000004.jpg\)"):
        convert_penn_action(root, tmp_path / "o.h5")
    with pytest.warns(ConversionWarning, match="skipped 1 videos with missing frames"):
        store = open_store(convert_penn_action(root, tmp_path / "o.h5", on_bad="skip"))
    assert list(store.clips.take) == ["0001"] and "skipped 1 videos with missing frames" in store.notes
    # wrong joint count, unknown action, dimensions that disagree with the frames
    mat = {k: v for k, v in scipy.io.loadmat(root / "labels" / "0001.mat").items() if not k.startswith("__")}
    scipy.io.savemat(root / "labels" / "0001.mat", {**mat, "x": mat["x"][:, :12]})
    with pytest.raises(ConversionError, match="13 joints per frame; another joint count has no mapping"):
        convert_penn_action(root, tmp_path / "o.h5")
    scipy.io.savemat(root / "labels" / "0001.mat", {**mat, "action": "juggling"})
    with pytest.raises(ConversionError, match="'juggling' is not a Penn Action class"):
        convert_penn_action(root, tmp_path / "o.h5")
    scipy.io.savemat(root / "labels" / "0001.mat", {**mat, "dimensions": np.array([[80, 100, 3]])})
    with pytest.raises(ConversionError, match="dimensions say 100x80 but .*000001.jpg is 96x80"):
        convert_penn_action(root, tmp_path / "o.h5")
    scipy.io.savemat(root / "labels" / "0001.mat", {**mat, "x": mat["x"] + 500, "bbox": np.zeros((0, 4))})
    with pytest.raises(ConversionError, match="lies outside the image 96x80"):
        convert_penn_action(root, tmp_path / "o.h5")
    with pytest.raises(LayoutError, match="to 'humaneva15'"):
        convert_penn_action(root, tmp_path / "o.h5", layout="humaneva15")


def test_lazy_loading_errors_name_the_file(penn, tmp_path):
    store = open_store(convert_penn_action(penn["root"], tmp_path / "penn.h5"))
    ds = ClipDataset(store, np.arange(2), 2, [1], size=32)
    frame = penn["root"] / "frames" / "0001" / "000002.jpg"
    frame.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(FrameImageError, match=r"clip train/0001/0001 frame 1: cannot (read|decode) image file .*000002.jpg"):
        ds[0]
    frame.unlink()
    with pytest.raises(FrameImageError, match=r"000002.jpg' not found"):
        ds[0]
    assert ds[1]["frames"].shape == (2, 3, 32, 32)  # the other clip still loads
    store.boxes[store.clips.start[1]:] += 1000.0  # a stored person box that misses its image
    with pytest.raises(FrameImageError, match="outside the image 80x96"):
        ds[1]
    with pytest.raises(StoreError, match="give the crop size"):
        ClipDataset(store, np.arange(2), 2, [1])


# ------------------------------------------------------------------------------------------
# NTU RGB+D: .skeleton text + extracted frames

# ntu25 joints of a person facing the camera, camera frame (x right, y down, z forward), metres
# relative to the pelvis: the person's left (Kinect "...Left" joints) at +x, feet pointing at the camera
NTU_BODY = np.array([
    [0, 0, 0], [0, -0.25, 0], [0, -0.55, 0], [0, -0.7, 0],                        # base, mid, neck, head
    [0.2, -0.5, 0], [0.3, -0.25, 0], [0.35, 0, 0], [0.37, 0.05, 0],                # left arm
    [-0.2, -0.5, 0], [-0.3, -0.25, 0], [-0.35, 0, 0], [-0.37, 0.05, 0],            # right arm
    [0.1, 0.02, 0], [0.12, 0.45, 0], [0.12, 0.85, 0], [0.12, 0.88, -0.12],         # left leg, foot forward
    [-0.1, 0.02, 0], [-0.12, 0.45, 0], [-0.12, 0.85, 0], [-0.12, 0.88, -0.12],     # right leg
    [0, -0.48, 0], [0.38, 0.1, 0], [0.36, 0.07, -0.03], [-0.38, 0.1, 0], [-0.36, 0.07, -0.03]])


def ntu_frames(n: int) -> np.ndarray:
    """``(n, 25, 3)`` camera-frame metres: the body walking sideways at 3 m."""
    root = np.stack([np.linspace(-0.2, 0.2, n), np.zeros(n) + 0.1, np.full(n, 3.0)], -1)
    return NTU_BODY[None] + root[:, None]


def skeleton_text(bodies_per_frame: list[list[tuple[str, np.ndarray]]], joints: int = 25) -> str:
    """The .skeleton format; each body ``(25, 3)`` camera-frame metres -> the 12 values per joint."""
    fx, fy, cx, cy = KINECT_V2_COLOR
    lines = [str(len(bodies_per_frame))]
    for bodies in bodies_per_frame:
        lines.append(str(len(bodies)))
        for body_id, p in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.01 -0.02 2")
            lines.append(str(joints))
            for j, (x, y, z) in enumerate(p[:joints]):
                u, v = (fx * x / z + cx, fy * y / z + cy) if z > 0 else (0.0, 0.0)
                # Kinect camera space has x to the left and y up; depth pixels at 512x424
                lines.append(f"{-x:.7f} {-y:.7f} {z:.7f} {u / 3.75:.5f} {v / 2.55:.5f} {u:.4f} {v:.4f} "
                             f"0.1 0.2 0.3 0.9 2")
    return "\n".join(lines) + "\n"


@pytest.fixture
def ntu(tmp_path):
    skel, frames = tmp_path / "nturgb+d_skeletons", tmp_path / "frames"
    skel.mkdir()
    body = ntu_frames(5)
    fx, fy, cx, cy = KINECT_V2_COLOR
    uv = np.stack([fx * body[..., 0] / body[..., 2] + cx, fy * body[..., 1] / body[..., 2] + cy], -1) / 10
    body[2, 6, 2] = 0.0  # left wrist not tracked in frame 2: depth 0 -> invalid
    other = ntu_frames(2) + np.array([0.8, 0, 0.5])
    per_frame = [[("72057594037931101", body[f])] + ([("72057594037931999", other[f])] if f < 2 else [])
                 for f in range(5)]
    name = "S001C002P003R001A007"
    (skel / f"{name}.skeleton").write_text(skeleton_text(per_frame))
    (skel / "S001C001P004R002A060.skeleton").write_text(skeleton_text([[], [], []]))  # no skeleton at all
    for f in range(5):  # frames extracted at 192x108 (1/10 of the 1920x1080 RGB video)
        dot_image(frames / name / f"{f + 1:05d}.jpg", (192, 108), uv[f], radius=2, background=(40, 40, 40))
    return {"skel": skel, "frames": frames, "name": name, "body": body, "uv": uv}


def test_ntu_skeleton_parser(ntu):
    parsed = read_skeleton(ntu["skel"] / f"{ntu['name']}.skeleton")
    assert len(parsed) == 5 and [len(b) for b in parsed] == [2, 2, 1, 1, 1]
    body_id, joints = parsed[0][0]
    assert body_id == "72057594037931101" and joints.shape == (25, 12) and joints[0, 11] == 2


def test_ntu_store_values_3d_and_batch(ntu, tmp_path):
    with pytest.warns(ConversionWarning, match="skipped 1 files without a skeleton"):
        store = open_store(convert_ntu(ntu["skel"], ntu["frames"], tmp_path / "ntu.h5"))
    assert store.layout_2d == store.layout_3d == "h36m17" and store.partial and store.fps == 30
    assert list(store.clips.subject) == ["P003"] and list(store.clips.take) == [ntu["name"]]
    assert len(store.actions) == 60 and store.actions[store.clips.action[0]] == "A007"
    assert "1 further bodies not converted" in store.notes and "left/right: auto -> keep" in store.notes
    kinect = ["pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine",
              "thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
              "right_wrist"]
    ntu_index = [0, 16, 17, 18, 12, 13, 14, 1, 20, 2, 3, 4, 5, 6, 8, 9, 10]
    assert list(H36M17) == kinect
    expected = ntu["uv"][:, ntu_index]
    expected[2, H36M17.index("left_wrist")] = np.nan
    assert np.allclose(store.keypoints, expected, atol=2e-3, equal_nan=True)
    # 3-D in the image's camera frame, metres: back-projection of the colour pixel at the Kinect depth
    body = ntu["body"][:, ntu_index]
    assert np.allclose(store.pose3d[[0, 1, 3, 4]], body[[0, 1, 3, 4]], atol=1e-4)
    assert np.isnan(store.pose3d[2, H36M17.index("left_wrist")]).all()
    k = store.cameras.intrinsics[store.clips.camera[0]]
    assert np.allclose(k[:4], np.array(KINECT_V2_COLOR) / 10) and tuple(store.cameras.res[0]) == (192, 108)
    p = store.pose3d
    assert np.allclose(k[0] * p[..., 0] / p[..., 2] + k[2], store.keypoints[..., 0], atol=1e-3, equal_nan=True)
    # a test batch: crop camera and targets agree (x = fx' X/Z + cx' in crop units)
    sample = ClipDataset(store, np.array([0]), 4, [1], size=48)[0]
    kc = sample["intrinsics"].double()
    p3 = sample["pose3d"].double()
    u = kc[:, None, 0] * p3[..., 0] / p3[..., 2] + kc[:, None, 2]
    ok = torch.isfinite(sample["pose"][..., 0])
    assert torch.allclose(u[ok], sample["pose"][..., 0][ok].double(), atol=1e-4)
    assert torch.allclose(sample["pose"][..., 2][ok][0], torch.tensor(0.5).float())  # the root at 0.5
    assert assert_dots_on_targets(sample, 48) > 40
    # mpii16 + every 2nd frame
    with pytest.warns(ConversionWarning):
        small = open_store(convert_ntu(ntu["skel"], ntu["frames"], tmp_path / "n2.h5", layout="mpii16", frame_step=2))
    assert small.fps == 15 and len(small.keypoints) == 3 and small.image_ref[1].endswith(f"{ntu['name']}/00003.jpg")
    assert np.allclose(small.keypoints[1, MPII16.index("thorax")], ntu["uv"][2, 20], atol=2e-3)


def test_ntu_left_right_check_and_deephar_mapping(ntu, tmp_path):
    # deephar's pa16j from NTU: [0,20,2,3,4,8,5,9,6,10,12,16,13,17,14,18] (pelvis, thorax, neck, head, R/L sho, ...)
    pa16j = ["pelvis", "thorax", "neck", "head", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow",
             "right_wrist", "left_wrist", "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle"]
    deephar = dict(zip(pa16j, [0, 20, 2, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18]))
    assert joint_map("ntu25", "mpii16", swap_sides=True).tolist() == [deephar[n] for n in MPII16]
    # Penn: deephar puts Penn joint k at pa16j index 3 + k
    penn = dict(zip(pa16j[3:], range(13)))
    assert joint_map("penn13", "mpii16", swap_sides=True).tolist() == [penn.get(n, -1) for n in MPII16]
    # the data here are person-centric: forcing deephar's swap warns and swaps
    with pytest.warns(ConversionWarning) as record:
        store = open_store(convert_ntu(ntu["skel"], ntu["frames"], tmp_path / "s.h5", left_right="swap"))
    assert warned(record, "contradicts the data: 100.0% of 5 frames")
    assert np.allclose(store.keypoints[0, H36M17.index("right_shoulder")], ntu["uv"][0, 4], atol=2e-3)


def test_ntu_bad_input(ntu, tmp_path):
    skel = ntu["skel"]
    path = skel / f"{ntu['name']}.skeleton"
    good = path.read_text()
    path.write_text(skeleton_text([[("1", ntu_frames(1)[0])]], joints=24))
    with pytest.raises(ConversionError, match="24 joints; NTU RGB\\+D .* no mapping"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5")
    lines = good.split("\n")
    lines[5] = "0.1 0.2 oops"
    path.write_text("\n".join(lines))
    with pytest.raises(ConversionError, match=r"line 6: 3 values, expected 12"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5")
    path.write_text(good)
    (ntu["frames"] / ntu["name"] / "00005.jpg").unlink()
    with pytest.raises(ConversionError, match=r"1 of 5 frame files missing"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5")
    dot_image(ntu["frames"] / ntu["name"] / "00005.jpg", (192, 192))
    (ntu["frames"] / ntu["name"] / "00001.jpg").unlink()
    dot_image(ntu["frames"] / ntu["name"] / "00001.jpg", (192, 192))
    with pytest.raises(ConversionError, match="192x192 is not a scaled copy of the 1920x1080"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5")
    with pytest.raises(ConversionError, match="no sequence was converted .*skipped 1 sequences whose frames are not"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5", on_bad="skip")
    with pytest.raises(ConversionError, match="frame pattern"):
        convert_ntu(skel, ntu["frames"], tmp_path / "o.h5", pattern="{video}/{frame}.jpg")


# ------------------------------------------------------------------------------------------
# Human3.6M frames beside the pose store


@pytest.fixture
def h36m(tmp_path):
    pose = write_store(tmp_path / "h36m_gt.h5", build_projected_store(subjects=("S1",), frames=21))
    store = open_store(pose)
    frames = tmp_path / "frames"
    for row in range(len(store.clips)):
        cam = store.cameras.name[store.clips.camera[row]]
        size = tuple(int(v) for v in store.cameras.res[store.clips.camera[row]])
        for i in range(0, 21, 10):
            kp = store.keypoints[store.clips.start[row] + i]
            dot_image(frames / "S1" / f"{store.clips.take[row]}.{cam}" / f"{i + 1:06d}.jpg", size, kp, radius=9)
    return {"pose": pose, "frames": frames, "src": store}


def test_h36m_frames_store_and_batch(h36m, tmp_path):
    store = open_store(convert_h36m_frames(h36m["pose"], h36m["frames"], tmp_path / "h36m_frames.h5", frame_step=10))
    src = h36m["src"]
    assert len(store.clips) == len(src.clips) == 8 and list(store.clips.length) == [3] * 8 and store.fps == 5
    assert store.actions == src.actions and not store.partial and store.layout_2d == "h36m17"
    idx = (src.clips.start[:, None] + np.array([0, 10, 20])).ravel()
    assert np.allclose(store.keypoints, src.keypoints[idx], atol=1e-2)  # ground-truth 2-D by projection
    assert np.allclose(store.pose3d, src.pose3d[idx])
    cam = src.cameras.intrinsics[store.clips.camera[0]]
    side = 2.25 * (cam[0] + cam[1]) / 2 / store.pose3d[0, 0, 2]
    assert np.allclose(store.boxes[0], np.r_[store.keypoints[0, 0] - side / 2, store.keypoints[0, 0] + side / 2])
    assert store.image_ref[0] == f"frames/S1/{src.clips.take[0]}.{src.cameras.name[src.clips.camera[0]]}/000001.jpg"
    sample = ClipDataset(store, np.array([0, 5]), 3, [1], size=64)[1]
    assert assert_dots_on_targets(sample, 64) >= 3 * 15
    # the crop camera maps the 3-D onto the targets (distortion ignored: sub-pixel here)
    k, p3 = sample["intrinsics"].double(), sample["pose3d"].double()
    u = k[:, None, 0] * p3[..., 0] / p3[..., 2] + k[:, None, 2]
    assert (u - sample["pose"][..., 0].double()).abs().nanmean() < 1.0 / 64


def test_h36m_frames_bad_input(h36m, tmp_path):
    frames = h36m["frames"]
    with pytest.raises(LayoutError, match="coco17"):
        convert_h36m_frames(h36m["pose"], frames, tmp_path / "o.h5", layout="coco17")
    with pytest.raises(ConversionError, match=r"subjects \['S9'\] not in the store"):
        convert_h36m_frames(h36m["pose"], frames, tmp_path / "o.h5", subjects=["S9"])
    with pytest.raises(ConversionError, match="frame files missing"):
        convert_h36m_frames(h36m["pose"], frames, tmp_path / "o.h5", frame_step=5)
    first = sorted(frames.rglob("000001.jpg"))[0]
    Image.new("RGB", (500, 501)).save(first)
    with pytest.raises(ConversionError, match="is 500x501, the camera's video 1000x100[02]"):
        convert_h36m_frames(h36m["pose"], frames, tmp_path / "o.h5", frame_step=10)
    s = h36m["src"]
    s.pose3d = None
    write_store(tmp_path / "2d.h5", s)
    with pytest.raises(ConversionError, match="no 3-D"):
        convert_h36m_frames(tmp_path / "2d.h5", frames, tmp_path / "o.h5")


# ------------------------------------------------------------------------------------------
# schema extension, the data module, the scripts


def test_partial_store_schema(penn, tmp_path):
    store = open_store(convert_penn_action(penn["root"], tmp_path / "penn.h5"))
    store.keypoints[0, 0, 0] = np.inf
    with pytest.raises(StoreError, match="inf in frames/keypoints of clip train/0001/0001 at frame 0"):
        write_store(tmp_path / "bad.h5", store)
    store.keypoints[0, 0, 0] = np.nan
    store.partial = False  # NaN only in partial stores
    with pytest.raises(StoreError, match="NaN/inf in frames/keypoints"):
        write_store(tmp_path / "bad.h5", store)
    store.partial = True
    store.boxes[1] = [5, 5, 5, 9]
    with pytest.raises(StoreError, match="has no area"):
        write_store(tmp_path / "bad.h5", store)
    store.boxes[1] = [5, np.nan, 9, 9]
    with pytest.raises(StoreError, match="partly NaN"):
        write_store(tmp_path / "bad.h5", store)
    store.boxes[1] = np.nan  # unknown: allowed
    store.clips.action[0] = -2
    with pytest.raises(StoreError, match="-1 = no action label"):
        write_store(tmp_path / "bad.h5", store)
    store.clips.action[0] = -1
    again = open_store(write_store(tmp_path / "ok.h5", store))
    assert again.partial and again.clips.action[0] == -1 and np.isnan(again.boxes[1]).all()
    from poseact.errors import SelectionError
    from poseact.lifting.datasets import LiftingArrays

    with pytest.raises(SelectionError, match="partial"):
        LiftingArrays.from_store(again)


def test_image_data_module_reads_a_converted_store(penn, tmp_path):
    from poseact.run.config import load_config
    from poseact.multitask.datamodule import ImageClipDataModule

    store = convert_penn_action(penn["root"], tmp_path / "penn.h5")
    cfg = load_config(REPO / "configs" / "experiment" / "multitask_tiny.yaml", [
        f"data.store={store}", "data.subjects_train=[train]", "data.subjects_test=[test]", "data.clip_length=4",
        "data.batch_clips=2", "data.steps_per_epoch=1", "model.input_size=64", "model.num_joints=16", "model.dim=2"])
    dm = ImageClipDataModule(cfg)
    batch = next(iter(dm.train_dataloader()))
    assert batch["pose"]["frames"].shape == (2, 4, 3, 64, 64) and batch["action"]["pose"].shape == (2, 4, 16, 3)
    assert set(batch["action"]["action"][:, 0].tolist()) <= {store_action for store_action in range(15)}
    test_multi = dm.test_dataloader()[1]
    video = next(iter(test_multi))
    assert video["frames"].shape[1:] == (4, 3, 64, 64) and (video["video"] == 1).all()


def load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scripts(mpii, penn, ntu, tmp_path, capsys):
    assert load_script("prepare_mpii").main(["--annotations", str(mpii["mat"]), "--out", str(tmp_path / "m.h5"),
                                            "--actions", "category"]) == 0
    out = capsys.readouterr()
    assert "actions  sports" in out.out and "prepare_mpii.py: warning: mpii: skipped 1 test images" in out.err
    assert load_script("prepare_penn_action").main(["--root", str(penn["root"])]) == 0
    assert "15" not in capsys.readouterr().err and (penn["root"] / "penn_action.h5").exists()
    assert load_script("prepare_ntu").main(["--skeletons", str(ntu["skel"]), "--frames", str(ntu["frames"]),
                                           "--layout", "mpii16", "--left-right", "keep"]) == 0
    assert "layouts  2-D mpii16, 3-D mpii16" in capsys.readouterr().out
    assert load_script("prepare_h36m_frames").main(["--pose-store", str(tmp_path / "none.h5"),
                                                   "--frames", str(tmp_path)]) == 2
    assert "Human3.6M pose store not found" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_script("prepare_mpii").main(["--annotations", str(mpii["mat"]), "--layout", "h36m17",
                                                "--on-bad", "skip", "--out", str(tmp_path / "m2.h5")]) == 0


def test_crop_file_decodes_small_and_keeps_geometry(tmp_path):
    """A large image cropped small: JPEG via a reduced decode (draft), PNG via a box-filtered region;
    both put the dots where the affine says, and agree with each other."""
    from poseact.store.images import crop_file, to_crop

    points = np.array([[250.0, 180.0], [520.0, 260.0], [400.0, 420.0], [610.0, 450.0]])
    crops = {}
    for ext in ("jpg", "png"):
        path = tmp_path / f"big.{ext}"
        dot_image(path, (800, 600), points, radius=22)
        crop, mat, off, window = crop_file(path, np.array([400.0, 300.0, 600.0]), 32, rotation=15.0, scale=1.1,
                                           shift=np.array([8.0, -5.0]), flip=True)
        uv = to_crop(points, mat, off)
        for u, v in uv:
            assert crop[int(v), int(u)].mean() > 0.5, (ext, u, v)
        crops[ext] = crop
    assert (crops["jpg"] - crops["png"]).abs().mean() < 0.05
    with pytest.raises(FrameImageError, match="lies outside the image 800x600"):
        crop_file(tmp_path / "big.png", np.array([2000.0, 300.0, 100.0]), 32)
