"""MPII Human Pose: the official ``mpii_human_pose_v1_u12_1.mat`` + its ``images/`` folder -> a store.

File contract (the release's MATLAB struct ``RELEASE``):

* ``annolist(i).image.name`` — the image file name; ``annolist(i).annorect(r)`` — one person:
  head box ``x1, y1, x2, y2``, ``objpos.x/.y`` (rough body centre), ``scale`` (person height / 200 px),
  ``annopoints.point(k)`` with ``id`` (0 r-ankle … 15 l-wrist, our ``mpii16`` order), ``x``, ``y``,
  ``is_visible`` (not used, as the reference);
* ``img_train(i)`` 1 = training image (annotated), 0 = test image (no joints released);
* ``single_person{i}`` — indices (1-based) of the rects that are isolated people;
* ``act(i)`` — ``cat_name``, ``act_name``, ``act_id`` (-1 = none).

One clip of one frame per annotated person (take ``<image>#<rect>``), subject ``train`` or ``val``
(``val_images``). Crop box of the reference (spec §6.2): s = 1.25·scale, centre = objpos + (0, 12·s),
square of side 200·s. ``head_size`` = 0.6 × the head box's diagonal (PCKh). 2-D only; missing joints NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from poseact.convert.frames import BadInput, image_ref, require_path
from poseact.convert.matfile import field, items, load_mat, number, text
from poseact.convert.npz import ConversionError, PathLike
from poseact.store import CameraTable, StoreBuilder, StoreError, write_store
from poseact.geometry.tables import CameraCalibration
from poseact.layouts import joint_map, map_joints

MPII_JOINTS = 16
ACTION_LABELS = ("none", "category", "activity")


def _person(rect, where: str, log: BadInput) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(keypoints (16, 2), box (4,), head_size)`` of one annorect, or None (counted) when unlabeled."""
    points = items(field(field(rect, "annopoints"), "point"))
    if not points:
        log.skip("people without joint annotations", where)
        return None
    objpos, scale = field(rect, "objpos"), number(field(rect, "scale"))
    cx, cy = number(field(objpos, "x")), number(field(objpos, "y"))
    if scale is None or cx is None or cy is None:
        log.skip("people without objpos/scale", where)
        return None
    if not scale > 0:
        log.bad("people with a non-positive scale", f"{where}: scale {scale} (must be > 0)")
        return None
    kp = np.full((MPII_JOINTS, 2), np.nan)
    for pt in points:
        j, x, y = number(field(pt, "id")), number(field(pt, "x")), number(field(pt, "y"))
        if j is None or x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            log.bad("people with unreadable joints", f"{where}: a point lacks a numeric id/x/y ({pt._fieldnames})")
            return None
        if j != int(j) or not 0 <= j < MPII_JOINTS:
            log.bad("people with unknown joint ids",
                    f"{where}: joint id {j:g} has no mapping (MPII ids are 0..{MPII_JOINTS - 1})")
            return None
        if np.isfinite(kp[int(j)]).all():
            log.bad("people with duplicate joints", f"{where}: joint id {int(j)} annotated twice")
            return None
        kp[int(j)] = (x, y)
    s = 1.25 * scale
    c = np.array([cx, cy + 12.0 * s])
    box = np.concatenate([c - 100.0 * s, c + 100.0 * s])
    head = [number(field(rect, k)) for k in ("x1", "y1", "x2", "y2")]
    head_size = 0.6 * float(np.hypot(head[2] - head[0], head[3] - head[1])) if None not in head else float("nan")
    if not head_size > 0:
        head_size = float("nan")
    return kp, box, head_size


def convert_mpii(annotations: PathLike, out: PathLike, images: PathLike | None = None, layout: str = "mpii16",
                 val_images: list[str] | None = None, single_person: bool = False, actions: str = "none",
                 on_bad: str = "error") -> Path:
    """``mpii_human_pose_v1_u12_1.mat`` -> store at ``out`` (2-D, ``frames/image_ref``, boxes, head sizes).

    Args:
        annotations: the official .mat file; ``images``: the folder of the JPEGs (default: ``images/``
            beside the .mat file).
        layout: ``mpii16`` (native order) or ``h36m17`` (spine missing, NaN).
        val_images: image names whose people form subject ``val`` (the others are ``train``).
        single_person: keep only the rects listed in ``single_person`` (isolated people).
        actions: clip labels: ``none`` (no action label, -1), ``category`` (``act.cat_name``) or
            ``activity`` (``act.act_name``); images without an activity get no label.
        on_bad: ``error`` or ``skip`` (counted) for missing/unreadable images, boxes outside the image,
            unreadable joints.
    """
    from poseact.store.images import image_size

    if actions not in ACTION_LABELS:
        raise ConversionError(f"actions must be one of {ACTION_LABELS}, got {actions!r}")
    jmap = joint_map("mpii16", layout)
    mat = load_mat(annotations, "MPII annotation file")
    rel = mat.get("RELEASE")
    if rel is None or not hasattr(rel, "_fieldnames"):
        raise ConversionError(f"{annotations}: no MATLAB struct 'RELEASE' (variables: {sorted(mat)}); "
                              f"expected the official mpii_human_pose_v1_u12_1.mat")
    missing = [f for f in ("annolist", "img_train") if field(rel, f) is None]
    if missing:
        raise ConversionError(f"{annotations}: RELEASE lacks {missing} (fields: {list(rel._fieldnames)})")
    annolist = items(field(rel, "annolist"))
    img_train = np.atleast_1d(np.asarray(field(rel, "img_train"), dtype=np.float64)).ravel()
    if len(img_train) != len(annolist):
        raise ConversionError(f"{annotations}: RELEASE.img_train has {len(img_train)} entries, annolist "
                              f"{len(annolist)}")
    singles = items(field(rel, "single_person")) if single_person else None
    acts = items(field(rel, "act")) if actions != "none" else None
    for name, value in (("single_person", singles), ("act", acts)):
        if value is not None and len(value) != len(annolist):
            raise ConversionError(f"{annotations}: RELEASE.{name} has {len(value)} entries, annolist {len(annolist)}")
    image_dir = require_path(images if images is not None else Path(annotations).parent / "images",
                             "MPII image folder", is_dir=True)
    val = set(val_images or [])
    log = BadInput("mpii", on_bad)
    builder = StoreBuilder(CameraTable.from_calibrations(
        [(s, CameraCalibration(id="mpii", res_w=0, res_h=0, azimuth=0.0)) for s in ("train", "val")]),
        layout, layout, 0.0, f"mpii: {Path(annotations).name} ({actions} action labels)", partial=True)
    seen_val: set[str] = set()
    for i, anno in enumerate(annolist):
        name = text(field(field(anno, "image"), "name"))
        where_img = f"{annotations}: annolist({i + 1})"
        if name is None:
            log.bad("images without a name", f"{where_img}: image.name missing")
            continue
        if img_train[i] != 1:
            log.skip("test images (no joints released)", name)
            continue
        rects = items(field(anno, "annorect"))
        keep = None
        if singles is not None:
            keep = {int(v) for v in np.atleast_1d(np.asarray(singles[i], dtype=np.float64)).ravel()}
        people = []
        for r, rect in enumerate(rects):
            where = f"{where_img} ({name}) annorect({r + 1})"
            if keep is not None and r + 1 not in keep:
                log.skip("people not in single_person", where)
                continue
            person = _person(rect, where, log)
            if person is not None:
                people.append((r, *person))
        if not people:
            continue
        path = image_dir / name
        try:
            width, height = image_size(path, where_img)
        except StoreError as e:
            log.bad("images missing or unreadable", str(e))
            continue
        label = None
        if acts is not None:
            act = acts[i]
            act_id = number(field(act, "act_id"))
            if act_id is not None and act_id != -1:
                label = text(field(act, "cat_name" if actions == "category" else "act_name"))
        subject = "val" if name in val else "train"
        seen_val.update([name] if subject == "val" else [])
        for r, kp, box, head_size in people:
            if log.boxes_outside(box[None], width, height, "people whose box is outside the image",
                                 lambda _: f"{where_img} ({name}) annorect({r + 1})"):
                continue
            builder.add_clip(subject, label, f"{name}#{r + 1}", 0 if subject == "train" else 1,
                             map_joints(kp[None], jmap), image_ref=[image_ref(path, out)],
                             boxes=box[None], head_size=np.array([head_size]))
    if val - seen_val:
        log.note(f"{len(val - seen_val)} of {len(val)} val_images were not among the annotated people "
                 f"(first: {sorted(val - seen_val)[0]})")
    if not len(builder):
        raise ConversionError(f"{annotations}: no annotated person was converted "
                              f"({'; '.join(log.summary()) or 'empty annolist'})")
    log.warn()
    builder.notes.extend(log.summary())
    return write_store(out, builder.build())
