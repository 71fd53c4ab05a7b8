"""2-D keypoints from poseact's own multi-task model (deephar SPNet) — a detector for ``poseact infer``.

A checkpoint of ``poseact fit configs/experiment/multitask_*.yaml`` (task ``multitask``) is run
frame by frame on a video or a folder of images; its last pose output (soft-argmax ``x, y`` in
[0, 1] of the crop, and a joint confidence) is mapped back to frame pixels and written as a
poseact keypoint file, which :func:`poseact.infer.formats.read_keypoints` reads like MediaPipe's.

**The crop.** The model sees one square crop per frame, resized to its ``input_size``; it was
trained on person-centred crops (the synthetic renderer fills a crop with a 2.2 m square around
the root), so its keypoints are only as good as the crop is tight. No person box is known here,
so the crop is fixed for the whole clip:

* ``centre`` (default): the largest centred square, side ``min(W, H)``; parts of a wide frame
  left and right of it are not seen (keypoints there cannot be found);
* ``full``: the whole frame, padded with black to a centred square of side ``max(W, H)``;
* ``box = (x0, y0, side)``: a square the user knows the person stays in (pixels; may extend
  past the frame, padded with black).

**The person.** The model always predicts one pose. A frame counts as *no person* when the mean
joint confidence is below ``min_confidence`` (:data:`DEFAULT_MIN_CONFIDENCE`); such frames are
written empty and ``poseact infer`` interpolates over them like missing detections (and stops
with "no person" when every frame is empty). Joints keep the model's confidence.

**The configuration** (the network's size is not in the weights alone: ``input_size`` and the
soft-argmax ramps are not stored) comes from, in order: ``config`` (an experiment YAML or a
run's ``config.yaml``), the checkpoint's hyper-parameters when it has them, or the run's
``config.yaml`` beside the checkpoint (``outputs/<run>/checkpoints/x.ckpt`` →
``outputs/<run>/config.yaml``). The joint layout is the checkpoint's ``layout`` hyper-parameter
when present, else ``h36m17`` for 17 joints (the synthetic image store) or ``mpii16`` for 16.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from poseact.errors import MissingFileError
from poseact.atomic import write_json
from poseact.multitask.inference import MultitaskModel, load_multitask

CROP_MODES = ("centre", "full")
#: frames whose mean joint confidence is below this hold no person (confidence of a flat heat
#: map over an ``h × w`` output is ``4 / (h·w)``: 0.06 at 64 px input, 0.004 at 256 px)
DEFAULT_MIN_CONFIDENCE = 0.2
BATCH_FRAMES = 16


#: the loaded model is the multi-task family's own inference record
KeypointModel = MultitaskModel


def load_keypoint_model(path: str | os.PathLike, config: str | os.PathLike | None = None) -> MultitaskModel:
    """Read a multi-task checkpoint (``.ckpt`` of ``poseact fit``) as a keypoint detector.

    ``config``: an experiment YAML or run ``config.yaml`` giving the network's size (see the
    module docstring for the fallbacks). Errors name the "keypoint checkpoint".
    """
    return load_multitask(path, config, what="keypoint checkpoint")


def square_box(box: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    """A subject box ``(x0, y0, w, h)`` px → the square ``(x0, y0, side)`` around it (side = the larger of
    ``w``, ``h``, same centre); a square ``(x0, y0, side)`` is returned as it is."""
    if box is None or len(box) == 3:
        return box
    x0, y0, w, h = box
    side = max(w, h)
    return x0 + w / 2 - side / 2, y0 + h / 2 - side / 2, side


def crop_box(width: int, height: int, crop: str = "centre",
             box: tuple[float, float, float] | None = None) -> tuple[int, int, int]:
    """The square the model sees: ``(x0, y0, side)`` in frame pixels (integers; ``x0``/``y0``
    negative when the square extends past the frame, e.g. ``crop="full"`` on a wide frame)."""
    if box is not None:
        x0, y0, side = (int(round(v)) for v in box)
        if side < 1:
            raise ValueError(f"crop box side must be >= 1 pixel, got {side}")
        return x0, y0, side
    if crop not in CROP_MODES:
        raise ValueError(f"crop {crop!r}: use one of {CROP_MODES} or a box")
    side = min(width, height) if crop == "centre" else max(width, height)
    return (width - side) // 2, (height - side) // 2, side


def crop_frames(frames: np.ndarray, box: tuple[int, int, int], size: int) -> torch.Tensor:
    """``frames (N, H, W, 3)`` uint8 RGB → model input ``(N, 3, size, size)`` float in [-1, 1]
    (``2·pixel/255 − 1``, the training normalisation at gamma 1). The square ``box`` is cut out
    (black outside the frame) and resized with antialiasing; crop pixel ``u ∈ [0, size]`` is
    frame pixel ``x0 + u·side/size``."""
    x0, y0, side = box
    n, h, w = frames.shape[:3]
    out = np.zeros((n, side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frames[:, sy0:sy1, sx0:sx1, :3]
    x = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    return 2 * x.clamp(0, 1) - 1


@torch.no_grad()
def predict_keypoints(km: KeypointModel, frames: Iterable[np.ndarray], box: tuple[int, int, int],
                      batch: int = BATCH_FRAMES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(keypoints (J, 2) frame pixels, confidence (J,) in [0, 1])`` per frame: the last pose
    output of the SPNet (pose stream only), mapped out of the crop ``box``."""
    x0, y0, side = box
    offset = np.array([x0, y0], np.float32)
    pending: list[np.ndarray] = []

    def run(chunk: list[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        poses, _ = km.model(crop_frames(np.stack(chunk), box, km.input_size), with_action=False)
        last = poses[-1][:, 0].numpy()  # (N, J, dim+1): x, y in [0, 1] of the crop, ..., confidence
        for p in last:
            yield (offset + p[:, :2] * side).astype(np.float32), np.clip(p[:, -1], 0, 1).astype(np.float32)

    for frame in frames:
        pending.append(frame)
        if len(pending) == batch:
            yield from run(pending)
            pending = []
    if pending:
        yield from run(pending)


def detect_multitask(input_path: str | os.PathLike, output: str | os.PathLike,
                     checkpoint: str | os.PathLike | KeypointModel, config: str | os.PathLike | None = None,
                     crop: str = "centre", box: tuple[float, float, float] | None = None,
                     min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Path:
    """Run the multi-task model on a video or a folder of frames → poseact keypoint JSON.

    The file (written atomically) is ``{"format": "poseact-keypoints/1", "layout", "width",
    "height", "fps", "source", "detector", "crop": {"mode", "box": [x0, y0, side]},
    "min_confidence", "frames": [[{"keypoints": [[x_px, y_px, confidence] * J], "score"}] or [], ...]}``.
    """
    from poseact.viz.video import iter_frames, video_info

    src, out = Path(input_path), Path(output)
    if not src.exists():
        raise MissingFileError(f"input {str(src)!r} not found")
    km = checkpoint if isinstance(checkpoint, KeypointModel) else load_keypoint_model(checkpoint, config)
    info = video_info(src)  # an undecodable video fails here, naming the file
    b = crop_box(info["width"], info["height"], crop, box)
    frames: list[list[dict]] = []
    found = 0
    for kps, conf in predict_keypoints(km, iter_frames(src), b):
        score = float(conf.mean())
        if score < min_confidence:
            frames.append([])
            continue
        found += 1
        frames.append([{"keypoints": np.round(np.c_[kps, conf], 3).tolist(), "score": round(score, 4)}])
    doc = {"format": "poseact-keypoints/1", "layout": km.layout, "width": info["width"], "height": info["height"],
           "fps": info["fps"], "source": str(src.absolute()),
           "detector": f"poseact multitask SPNet {km.source} ({km.input_size} px input, config {km.config_source})",
           "crop": {"mode": "box" if box is not None else crop, "box": list(b)},
           "min_confidence": min_confidence, "person_frames": found, "frames": frames}
    write_json(out, doc)
    return out
