"""poseact: Lightning experiments for 3D human pose estimation and action recognition.

The Python API (:mod:`poseact.api`, loaded on first use, no Lightning import)::

    import poseact
    lifter = poseact.load_lifter("run/checkpoints/last.ckpt")
    pose, trajectory = poseact.lift(lifter, keypoints, image_size=(1920, 1080))
    poseact.infer_video("clip.mp4", "run/checkpoints/last.ckpt", out_dir="out")
    poseact.export("run/checkpoints/last.ckpt", "lifter.onnx", format="onnx")
    model = poseact.load_multitask("mt_run/checkpoints/last.ckpt")  # the multi-task model
    prediction = poseact.predict_multitask(model, crops)  # crops (T, S, S, 3) uint8 RGB
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["export", "infer_video", "lift", "load_lifter", "load_multitask", "predict_multitask"]


def __getattr__(name: str):
    if name in __all__:
        from poseact import api

        return getattr(api, name)
    raise AttributeError(f"module 'poseact' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
