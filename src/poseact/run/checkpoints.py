"""Reading checkpoint files, and writing Lightning's atomically.

:func:`load_checkpoint_file` is the one place a checkpoint file is opened: whatever the family,
an unreadable file is one :class:`CheckpointError` naming it. :class:`AtomicCheckpointIO` makes
Lightning's own saves (``last.ckpt``, ``epochNNN.ckpt``) go through :mod:`poseact.atomic`, so a
full disk or a kill mid-save never leaves a truncated checkpoint beside the good ones.
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

from poseact.atomic import atomic_output
from poseact.errors import CheckpointError, MissingFileError, RunFolderError
from poseact.safe_load import load_torch_file


def load_checkpoint_file(path: str | os.PathLike, what: str = "checkpoint") -> dict:
    """Load a checkpoint onto the CPU → its top-level dict, running no code from it.

    Read by :func:`poseact.safe_load.load_torch_file` (``weights_only=True`` and an allow-list of
    tensors, numpy arrays and plain data; an original VideoPose3D file's pickled numpy RandomState
    is read as an inert stand-in): a file that needs anything else is refused naming it."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{what} {str(p)!r} not found")
    if p.is_dir():
        raise CheckpointError(f"{what} {str(p)!r} is a folder, not a checkpoint file")
    try:
        raw = load_torch_file(p, what, CheckpointError)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, struct.error, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, AttributeError,
            ImportError, ModuleNotFoundError, UnicodeDecodeError, OSError, TypeError, KeyError, IndexError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{what} {str(p)!r} is unreadable: not a PyTorch checkpoint, or truncated "
                              f"({type(e).__name__}: {first})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{what} {str(p)!r} is not a poseact or VideoPose3D checkpoint "
                              f"(it holds a {type(raw).__name__})")
    return raw


def saved_family(raw: dict) -> str | None:
    """The family a poseact checkpoint names in its hyper-parameters (None: it names none)."""
    family = (raw.get("hyper_parameters") or {}).get("family") if isinstance(raw, dict) else None
    return None if family is None else str(family)


def has_weights(raw: dict, prefix: str) -> bool:
    """Whether a Lightning checkpoint's ``state_dict`` has a parameter starting with ``prefix``."""
    state = raw.get("state_dict") if isinstance(raw, dict) else None
    return isinstance(state, dict) and any(k.startswith(prefix) for k in state)


def lightning_state(raw: dict, path: str | os.PathLike) -> dict:
    """The ``state_dict`` of a Lightning checkpoint (a :class:`CheckpointError` if there is none)."""
    state = raw.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} has no Lightning state_dict "
                              f"(top-level entries: {sorted(raw)[:6]})")
    return state


def atomic_checkpoint_io():
    """A Lightning ``CheckpointIO`` whose saves are atomic (see the module docstring)."""
    import torch
    from pytorch_lightning.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
            """Lightning's resume (``ckpt_path``) reads through :func:`load_checkpoint_file` too."""
            if "://" in str(path):
                return super().load_checkpoint(path, map_location=map_location, weights_only=True)
            return load_checkpoint_file(path, "checkpoint to resume from")

        def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
            if "://" in str(path):  # a remote file system: Lightning's own way
                return super().save_checkpoint(checkpoint, path, storage_options)
            try:
                with atomic_output(path) as tmp:
                    torch.save(checkpoint, tmp)
            except RuntimeError as e:  # torch reports a failed write (a full disk) as a RuntimeError
                folder = Path(path).parent
                while not folder.exists():  # the folder made for the file is gone with it
                    folder = folder.parent
                free = shutil.disk_usage(folder).free
                first = str(e).strip().splitlines()[0][:120]
                raise RunFolderError(f"checkpoint {str(path)!r} could not be written ({first}); "
                                     f"{free / 1e6:.1f} MB free there — No space left on device?") from None

    return AtomicCheckpointIO()
