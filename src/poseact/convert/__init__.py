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
"""

from poseact.convert.custom import convert_custom
from poseact.convert.h36m_frames import convert_h36m_frames
from poseact.convert.mocap import convert_h36m, convert_humaneva
from poseact.convert.mpii import convert_mpii
from poseact.convert.npz import (
    ConversionError,
    ConversionWarning,
    InputNotFoundError,
    Layout2D,
    action_group,
    load_npz_dict,
)
from poseact.convert.ntu import convert_ntu, read_skeleton
from poseact.convert.penn import convert_penn_action

__all__ = [
    "ConversionError", "ConversionWarning", "InputNotFoundError", "Layout2D", "action_group",
    "convert_custom", "convert_h36m", "convert_h36m_frames", "convert_humaneva", "convert_mpii", "convert_ntu",
    "convert_penn_action", "load_npz_dict", "read_skeleton",
]
