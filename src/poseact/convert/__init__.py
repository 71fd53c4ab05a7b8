"""Converters from VideoPose3D's dataset files (``.npz``) to the poseact HDF5 store.

* :func:`convert_h36m` — ``data_3d_h36m.npz`` + ``data_2d_h36m_<detector>.npz``
* :func:`convert_humaneva` — ``data_3d_humaneva15.npz`` + ``data_2d_humaneva15_<detector>.npz``
* :func:`convert_custom` — ``data_2d_custom_<name>.npz`` (in-the-wild detections)

Image datasets (stores with ``frames/image_ref``, person boxes, NaN for joints not annotated):

* :func:`convert_mpii` — MPII Human Pose ``mpii_human_pose_v1_u12_1.mat`` + ``images/``
* :func:`convert_penn_action` — Penn Action ``labels/*.mat`` + ``frames/``
* :func:`convert_ntu` — NTU RGB+D ``*.skeleton`` + frames extracted from the RGB videos
* :func:`convert_h36m_frames` — a Human3.6M pose store + frames extracted from the videos

Pure numpy + h5py on the data side; every error is a :class:`ConversionError` (a
``ValueError``; a missing input file is also a ``FileNotFoundError``) naming the file and the
offending subject / take / camera. Output is written atomically by
:func:`poseact.store.write_store`: a failed conversion leaves no file behind.

The converters are imported when first used (``from poseact.convert import convert_h36m`` works as
usual), so the ``data_prep/`` scripts parse their arguments — and answer ``--help`` — at once.
"""

import importlib

_WHERE = {
    "convert_custom": "custom", "convert_h36m_frames": "h36m_frames", "convert_h36m": "mocap",
    "convert_humaneva": "mocap", "convert_mpii": "mpii", "ConversionError": "npz", "ConversionWarning": "npz",
    "InputNotFoundError": "npz", "Layout2D": "npz", "action_group": "npz", "load_npz_dict": "npz",
    "convert_ntu": "ntu", "read_skeleton": "ntu", "convert_penn_action": "penn",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'poseact.convert' has no attribute {name!r}")
    return getattr(importlib.import_module(f"poseact.convert.{_WHERE[name]}"), name)
