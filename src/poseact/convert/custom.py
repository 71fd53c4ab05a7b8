"""In-the-wild detections: VideoPose3D's ``data_2d_custom_<name>.npz`` -> a 2-D-only store.

File contract (reference spec §5.5): ``positions_2d = {video: {'custom': [(N, J, 2|3) pixels]}}``
(one camera per video) and ``metadata`` = the layout dict (COCO for Detectron) plus
``video_metadata = {video: {'w': W, 'h': H}}``. One clip per video: subject = the video name,
action and take = ``custom``; one camera row per video named ``custom`` with the video's
resolution, no intrinsics or extrinsics (NaN) and azimuth 70 (rendering only). No 3-D.
"""

from __future__ import annotations

from pathlib import Path

from poseact.convert.npz import (
    ConversionError,
    Layout2D,
    PathLike,
    action_group,
    camera_views,
    entry,
    iter_takes,
    load_npz_dict,
    split_confidence,
)
from poseact.store import CameraTable, StoreBuilder, write_store
from poseact.geometry.tables import CameraCalibration

CUSTOM_CAMERA = "custom"
CUSTOM_AZIMUTH = 70.0
#: The frame rate is not in the file; 50 fps is what the Human3.6M-trained lifters expect.
DEFAULT_CUSTOM_FPS = 50.0


def convert_custom(path_2d: PathLike, out: PathLike, subjects: list[str] | None = None,
                   fps: float = DEFAULT_CUSTOM_FPS, layout_3d: str = "h36m17") -> Path:
    """``data_2d_custom_<name>.npz`` -> store at ``out`` (2-D only).

    ``subjects`` restricts (and orders) the videos; ``fps`` is recorded in the store (the npz
    does not carry it); ``layout_3d`` names the 3-D layout a lifter should predict.
    """
    positions_2d = load_npz_dict(path_2d, "positions_2d")
    metadata = load_npz_dict(path_2d, "metadata")
    layout = Layout2D(metadata, path_2d)
    videos = metadata.get("video_metadata")
    if not isinstance(videos, dict):
        raise ConversionError(f"{path_2d}: metadata has no 'video_metadata' dict "
                              f"{{video: {{'w': W, 'h': H}}}}; keys present: {sorted(metadata)}")
    if subjects is not None:
        unknown = [s for s in subjects if s not in positions_2d]
        if unknown:
            raise ConversionError(f"{path_2d}: requested video(s) {unknown} not in positions_2d; "
                                  f"videos there: {list(positions_2d)}")
        positions_2d = {s: positions_2d[s] for s in dict.fromkeys(subjects)}

    rows: list[tuple[str, CameraCalibration]] = []
    row_of: dict[str, int] = {}
    clips = []
    for video, take, value in iter_takes(positions_2d, path_2d, "positions_2d"):
        if video not in row_of:
            row_of[video] = len(rows)
            rows.append((video, _camera(videos, video, path_2d)))
        (keypoints,) = camera_views(value, path_2d, video, take, [CUSTOM_CAMERA])
        layout.check(keypoints, f"{entry('positions_2d', video, take)}[camera 0 ({CUSTOM_CAMERA})]")
        clips.append((video, take, row_of[video], keypoints))

    builder = StoreBuilder(CameraTable.from_calibrations(rows), layout.name, layout_3d, fps,
                           f"custom: {Path(path_2d).name}")
    for video, take, row, keypoints in clips:
        xy, confidence = split_confidence(keypoints)
        builder.add_clip(video, action_group(take), take, row, xy, confidence=confidence)
    return write_store(out, builder.build())


def _camera(videos: dict, video: str, path: PathLike) -> CameraCalibration:
    meta = videos.get(video)
    where = f"{path}: metadata['video_metadata'][{video!r}]"
    if meta is None:
        raise ConversionError(f"{where} is missing (resolution of video {video!r} unknown); "
                              f"videos described: {list(videos)}")
    try:
        w, h = int(meta["w"]), int(meta["h"])
    except (KeyError, TypeError, ValueError):
        raise ConversionError(f"{where} is {meta!r}, expected {{'w': width, 'h': height}} in pixels") from None
    if w <= 0 or h <= 0:
        raise ConversionError(f"{where} gives resolution {w}x{h}; both must be positive")
    return CameraCalibration(id=CUSTOM_CAMERA, res_w=w, res_h=h, azimuth=CUSTOM_AZIMUTH)
