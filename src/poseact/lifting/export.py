"""Lifters out of poseact: TorchScript and ONNX files that run without poseact, checked on writing.

What an exported file computes (its metadata says the same, as JSON under the key ``poseact``; each
lifter class declares its form: :meth:`~poseact.lifting.models.base.Lifter.export_geometry`,
``export_module``, ``export_inputs``):

* **temporal** (dilated convolutions): ``(B, L, J_in, F)`` → ``(B, L - before - after, J_out, 3)``, any
  batch and any length ``L`` ≥ the receptive field; a whole sequence padded by ``before`` / ``after``
  edge-replicated frames gives one pose per input frame (what ``poseact.lift`` does);
* **mixste** (seq2seq transformer): clips of exactly ``frames`` frames, ``(B, T, J_in, F)`` →
  ``(B, T, J_out, 3)`` (longer sequences are cut into clips by the caller, as ``MixSTE.forward``).

Input: 2-D keypoints in normalised screen coordinates (``x / w * 2 - 1``, ``y / w * 2 - h / w``, the
reference's rule), plus the confidence as a third feature when ``in_features`` is 3. Output: metres,
camera space, root-relative for the pose model. With a trajectory model the file returns a pair
``(pose, trajectory)``, the trajectory ``(B, L', 1, 3)`` metres (root in camera space). No flip
test-time augmentation inside: average with the mirrored input yourself, or use ``poseact.lift``.

Every export is run against the original model on an input of another length (and batch) than the
one it was traced with; the largest difference is returned and must be below
:data:`EXPORT_TOLERANCE_M`, else nothing is written.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from poseact.atomic import atomic_output
from poseact.errors import CheckpointError, UsageError
from poseact.lifting.checkpoint import LifterCheckpoint, read_lifter_checkpoint, save_videopose3d_checkpoint
from poseact.lifting.models import Lifter, TemporalLifter

log = logging.getLogger("poseact")

#: formats poseact can write a lifter in
LIFTER_EXPORT_FORMATS = ("videopose3d", "torchscript", "onnx")
#: the largest difference (metres) an exported model may have from the original
EXPORT_TOLERANCE_M = 1e-4
METADATA_KEY = "poseact"


#: the format a file suffix implies (``poseact export`` without ``--format``)
FORMAT_BY_SUFFIX = {".bin": "videopose3d", ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript",
                    ".torchscript": "torchscript", ".onnx": "onnx"}


def format_of(output: str | os.PathLike) -> str:
    """The export format ``output``'s suffix implies; a usage error when it implies none."""
    suffix = Path(output).suffix.lower()
    if suffix not in FORMAT_BY_SUFFIX:
        raise UsageError(f"export to {str(output)!r}: say --format {'|'.join(LIFTER_EXPORT_FORMATS)} (the suffix "
                         f"{suffix or '(none)'} implies none; known: {', '.join(FORMAT_BY_SUFFIX)})")
    return FORMAT_BY_SUFFIX[suffix]


class ExportedLifter(nn.Module):
    """The pose model and, if present, the trajectory model behind one ``forward``."""

    def __init__(self, pose: nn.Module, trajectory: nn.Module | None) -> None:
        super().__init__()
        self.pose = pose
        self.trajectory = trajectory

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if self.trajectory is None:
            return self.pose(x)
        return self.pose(x), self.trajectory(x)


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    max_abs_diff_m: float  # largest |exported - original| on the check input, metres
    checked_shape: tuple[int, ...]  # the check input's shape (another than the traced one)

    def __str__(self) -> str:
        return (f"{self.path} ({self.format}; checked against the original on an input of shape "
                f"{self.checked_shape}: largest difference {self.max_abs_diff_m:.2g} m)")


def metadata(ckpt: LifterCheckpoint, pose: Lifter) -> dict:
    """What a user of the exported file needs to feed it and read it (the lifter class declares its
    frame geometry: :meth:`~poseact.lifting.models.base.Lifter.export_geometry`)."""
    geometry = pose.export_geometry()
    return {
        "format": "poseact-lifter/1", "model": type(pose).name, "source": str(ckpt.path),
        "num_joints_in": ckpt.num_joints_in, "in_features": ckpt.in_features, "num_joints_out": ckpt.num_joints_out,
        "layout_2d": ckpt.layout_2d, "layout_3d": ckpt.layout_3d, "causal": ckpt.causal,
        "before": geometry["before"], "after": geometry["after"], "frames": geometry["frames"],
        "input": "(B, L, J_in, F): normalised screen coordinates x/w*2-1, y/w*2-h/w (+ confidence when F=3); "
                 + geometry["input"],
        "output": "pose (B, L', J_out, 3) metres, camera space" + (
            "; trajectory (B, L', 1, 3) metres, root in camera space" if ckpt.trajectory is not None else ""),
        "trajectory": ckpt.trajectory is not None,
    }


def _outputs(result) -> list[np.ndarray]:
    items = result if isinstance(result, (tuple, list)) else [result]
    return [np.asarray(r.detach().numpy() if isinstance(r, Tensor) else r, dtype=np.float64) for r in items]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray], where: str) -> float:
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise CheckpointError(f"{where}: the exported model's outputs {[x.shape for x in a]} differ in shape "
                              f"from the original's {[y.shape for y in b]}")
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def export_lifter(ckpt: LifterCheckpoint, output: str | os.PathLike, fmt: str) -> ExportReport | Path:
    """Write ``ckpt``'s lifter as ``fmt`` at ``output``, atomically: ``torchscript`` / ``onnx`` after
    checking the written file against the original model (see the module docstring; returns the
    report), ``videopose3d`` as an original ``.bin`` (returns its path)."""
    if fmt not in LIFTER_EXPORT_FORMATS:
        raise UsageError(f"export format {fmt!r}: use one of {LIFTER_EXPORT_FORMATS}")
    pose, traj = ckpt.build()
    if fmt == "videopose3d":
        if not isinstance(pose, TemporalLifter):  # the format is the temporal convolutions' own
            raise CheckpointError(f"{ckpt.where}: VideoPose3D's format holds temporal-convolution lifters only, "
                                  f"not {type(pose).name!r}")
        return save_videopose3d_checkpoint(output, pose, traj, epoch=ckpt.epoch or 0, lr=ckpt.lr or 0.0)
    module = ExportedLifter(pose.export_module(), None if traj is None else traj.export_module()).eval()
    meta = metadata(ckpt, pose)
    trace_input, check_input = pose.export_inputs(torch.Generator().manual_seed(0), ckpt.num_joints_in,
                                                  ckpt.in_features)
    with torch.inference_mode():
        expected = _outputs(module(check_input))
    out = Path(output)
    where = f"export of {ckpt.where} to {str(out)!r}"
    with atomic_output(out) as tmp:
        if fmt == "torchscript":
            got = _write_torchscript(module, trace_input, check_input, meta, tmp)
        else:
            got = _write_onnx(module, trace_input, check_input, meta, tmp, where)
        diff = _max_diff(got, expected, where)
        if not diff <= EXPORT_TOLERANCE_M:
            raise CheckpointError(f"{where}: the exported model differs from the original by {diff:.3g} m "
                                  f"(tolerance {EXPORT_TOLERANCE_M:g} m); nothing written")
    return ExportReport(out, fmt, diff, tuple(check_input.shape))


def _write_torchscript(module: nn.Module, trace_input: Tensor, check_input: Tensor, meta: dict,
                       tmp: Path) -> list[np.ndarray]:
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the input checks, true for any valid input
        traced = torch.jit.trace(module, trace_input, check_trace=False)
    buffer = io.BytesIO()  # serialised in memory, written by Python: a full disk is an OSError, not
    torch.jit.save(traced, buffer, _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})  # a C++ abort
    tmp.write_bytes(buffer.getvalue())  # atomic_output fsyncs it when it commits
    loaded = torch.jit.load(str(tmp))
    with torch.no_grad():
        return _outputs(loaded(check_input))


def _write_onnx(module: nn.Module, trace_input: Tensor, check_input: Tensor, meta: dict, tmp: Path,
                where: str) -> list[np.ndarray]:
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise UsageError(f"{where}: ONNX export needs the packages onnx, onnxscript and onnxruntime "
                         f"(pip install 'poseact[export]'); missing: {e.name}") from None
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    dims = {0: batch}
    if meta["frames"] is None:  # any length (a sliding lifter); else clips of exactly 'frames' frames
        dims[1] = torch.export.Dim("frames", min=meta["before"] + meta["after"] + 1, max=1 << 20)
    outputs = ["pose", "trajectory"] if meta["trajectory"] else ["pose"]
    buffer = io.BytesIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the exporter's own deprecations, not the user's to fix
        program = torch.onnx.export(module, (trace_input,), dynamo=True, dynamic_shapes=({**dims},),
                                    input_names=["keypoints"], output_names=outputs, external_data=False,
                                    verbose=False)
    model = program.model_proto
    model.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
    buffer.write(model.SerializeToString())
    tmp.write_bytes(buffer.getvalue())
    onnx.checker.check_model(str(tmp))
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    return [np.asarray(o, dtype=np.float64) for o in session.run(None, {"keypoints": check_input.numpy()})]


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, fmt: str) -> ExportReport | Path:
    """:func:`export_lifter` of the lifter checkpoint at ``checkpoint`` (``.ckpt`` or ``.bin``)."""
    return export_lifter(read_lifter_checkpoint(checkpoint), output, fmt)


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``poseact`` metadata of an exported TorchScript or ONNX file (told apart by content:
    TorchScript files are zip archives)."""
    import zipfile

    p = Path(path)
    if not zipfile.is_zipfile(p):
        import onnx

        props = {m.key: m.value for m in onnx.load(str(p), load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY])
    files = {f"{METADATA_KEY}.json": ""}
    torch.jit.load(str(p), _extra_files=files)
    return json.loads(files[f"{METADATA_KEY}.json"])
