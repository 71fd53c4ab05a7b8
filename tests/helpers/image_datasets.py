"""Builders of small image datasets in their exact original formats (MPII's MATLAB ``RELEASE``
struct, Penn Action's label ``.mat`` files and JPEG frames), shared by the converter tests
(``test_data_prep_images.py``) and the dataset-mixing tests (``test_multitask_mixing.py``).
Images are tiny and drawn with Pillow; they carry bright dots at the annotated joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, ImageDraw


def dot_image(path: Path, size: tuple[int, int], points: np.ndarray | None = None, radius: int = 6,
              background: tuple[int, int, int] = (0, 0, 0)) -> None:
    """An image with a white disc at every finite point ``(K, 2)`` (JPEG or PNG by extension)."""
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    for x, y in ([] if points is None else points):
        if np.isfinite([x, y]).all():
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95) if path.suffix == ".jpg" else img.save(path)


def struct_array(records: list[dict], fields: list[str]) -> np.ndarray:
    """A 1×K MATLAB struct array (savemat writes structured object arrays as struct arrays)."""
    a = np.zeros((1, len(records)), dtype=[(f, object) for f in fields])
    for i, r in enumerate(records):
        for f in fields:
            a[0, i][f] = r.get(f, np.zeros((0, 0)))
    return a


def mpii_person(points: dict[int, tuple[float, float]], objpos, scale, head=(150.0, 40.0, 174.0, 72.0)) -> dict:
    # is_visible comes as a number, a string or empty in the real file
    vis = [1, "1", 0, np.zeros((0, 0))]
    pts = struct_array([{"id": j, "x": x, "y": y, "is_visible": vis[k % 4]} for k, (j, (x, y)) in
                        enumerate(points.items())], ["id", "x", "y", "is_visible"])
    return {"x1": head[0], "y1": head[1], "x2": head[2], "y2": head[3], "annopoints": {"point": pts},
            "scale": scale, "objpos": {"x": objpos[0], "y": objpos[1]}}


RECT_FIELDS = ["x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"]


def mpii_joints(rng, centre, n=16) -> dict[int, tuple[float, float]]:
    """``n`` joints (MPII ids) on a grid around ``centre``, 28 px apart (distinct dots)."""
    ids = rng.permutation(16)[:n]
    grid = [(centre[0] + 28 * (k % 4 - 1.5), centre[1] + 28 * (k // 4 - 1.5)) for k in range(16)]
    return {int(j): grid[k] for k, j in enumerate(sorted(ids))}


def write_mpii(tmp_path: Path) -> dict:
    """MPII in its release format under ``tmp_path/mpii``: three images: a.jpg (2 people, one with
    11 joints), b.jpg (a person without joints), c.jpg (test)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "mpii"
    p1, p2 = mpii_joints(rng, (130, 150)), mpii_joints(rng, (300, 150), n=11)
    rects_a = struct_array([mpii_person(p1, (130, 130), 0.9), mpii_person(p2, (300, 130), 0.8)], RECT_FIELDS)
    rects_b = struct_array([{"objpos": {"x": 60.0, "y": 60.0}, "scale": 0.5}], ["scale", "objpos"])
    annolist = struct_array([
        {"image": {"name": "a.jpg"}, "annorect": rects_a, "frame_sec": 12, "vididx": 3},
        {"image": {"name": "b.jpg"}, "annorect": rects_b},
        {"image": {"name": "c.jpg"}, "annorect": rects_b},
    ], ["image", "annorect", "frame_sec", "vididx"])
    single = np.empty((3, 1), dtype=object)
    single[0, 0], single[1, 0], single[2, 0] = np.array([[2]]), np.zeros((0, 0)), np.array([[1]])
    act = np.zeros((3, 1), dtype=[("cat_name", object), ("act_name", object), ("act_id", object)])
    act[0, 0] = ("sports", "rock climbing", 17)
    act[1, 0] = (np.zeros((0, 0)), np.zeros((0, 0)), -1)
    act[2, 0] = ("home activities", "vacuuming", 4)
    mat = root / "mpii_human_pose_v1_u12_1.mat"
    root.mkdir()
    scipy.io.savemat(mat, {"RELEASE": {"annolist": annolist, "img_train": np.array([[1, 1, 0]]),
                                       "version": "12", "single_person": single, "act": act,
                                       "video_list": np.array(["vid"], dtype=object)}})
    dot_image(root / "images" / "a.jpg", (420, 300), np.array(list(p1.values()) + list(p2.values())), radius=7)
    dot_image(root / "images" / "b.jpg", (200, 150))
    return {"mat": mat, "root": root, "p1": p1, "p2": p2}


def penn_pose(n: int, view: str, width: int, height: int) -> np.ndarray:
    """``(n, 13, 2)`` joints of a person seen from the ``view``: front = facing the camera, so the
    person's left (the dataset's person-centric labels) is on the image's right."""
    side = 1.0 if view == "front" else -1.0  # +x = the person's left in the image
    cx, cy = width / 2, height / 2
    # penn13: head, l/r shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee, l/r ankle
    base = np.array([[0, -30], [12, -20], [-12, -20], [18, -8], [-18, -8], [22, 4], [-22, 4],
                     [8, 4], [-8, 4], [9, 18], [-9, 18], [9, 30], [-9, 30]], dtype=np.float64)
    base[:, 0] *= side
    motion = np.stack([np.arange(n) * 2.0, np.zeros(n)], -1)[:, None]
    return base[None] + np.array([cx, cy]) + motion


def write_penn_video(root: Path, vid: str, n: int, action: str, view: str, train: int, size=(96, 80),
                     bbox_rows: int | None = None) -> np.ndarray:
    w, h = size
    kp = penn_pose(n, view, w, h)
    vis = np.ones((n, 13))
    vis[0, 5] = 0  # one occluded wrist
    bbox = np.concatenate([kp.min(1) - 5, kp.max(1) + 5], 1)[: bbox_rows if bbox_rows is not None else n]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "labels" / f"{vid}.mat", {
        "action": action, "pose": view, "x": kp[..., 0], "y": kp[..., 1], "visibility": vis,
        "train": train, "bbox": bbox, "dimensions": np.array([h, w, n]), "nframes": n})
    for f in range(n):
        dot_image(root / "frames" / vid / f"{f + 1:06d}.jpg", size, kp[f], radius=3, background=(10, 20, 30))
    return kp


def write_penn(tmp_path: Path) -> dict:
    """Penn Action under ``tmp_path/Penn_Action``: video 0001 (train, tennis_serve), 0002 (test, bowl)."""
    root = tmp_path / "Penn_Action"
    kps = {"0001": write_penn_video(root, "0001", 3, "tennis_serve", "front", 1),
           "0002": write_penn_video(root, "0002", 5, "bowl", "back", -1, size=(80, 96), bbox_rows=4)}
    return {"root": root, "kp": kps}
