"""Reading pickled files without running code from them: checkpoints and VideoPose3D ``.npz`` files.

A pickle can name any Python callable and have it called while it loads; a checkpoint or an
``.npz`` downloaded from the internet could run a program that way. Every checkpoint poseact reads
(a run's ``.ckpt``, a VideoPose3D ``.bin``, the files Lightning resumes from) goes through
:func:`load_torch_file`, and every object array of an ``.npz`` (VideoPose3D's nested dicts) through
:func:`load_npz_objects`. Both admit only:

* plain data: ``dict``, ``list``, ``tuple``, ``set``, ``str``, ``bytes``, numbers, booleans, None,
  ``collections.OrderedDict``;
* tensors, storages and ``torch.Size`` (checkpoints; PyTorch's own ``weights_only`` reader, zip
  files and the PyTorch 0.4-1.5 pickle format alike);
* numpy arrays of numbers, strings or the objects above, numpy dtypes and numpy scalars;
* in checkpoints only, the pickled numpy ``RandomState`` original VideoPose3D files keep under
  ``random_state``: it is read as an inert :class:`DiscardedObject` that keeps nothing (poseact
  never uses it), so the generator's code is never called.

Anything else — a class, a function, an OmegaConf object — is refused with a :class:`PoseactError`
that names the file and the first thing it would have needed. PyTorch's pre-0.4 ``.tar`` format
(2017, older than VideoPose3D) cannot be read this way and is refused too.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from poseact.errors import PoseactError

PathLike = str | os.PathLike

WHY = "poseact reads only tensors, numpy arrays and plain data from files, never code"


class DiscardedObject:
    """Stand-in for a pickled object poseact never uses (a numpy ``RandomState``): keeps nothing.

    Its construction and ``__setstate__`` ignore their arguments, so reading it runs no code of
    the object it replaces."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "DiscardedObject()"


#: Pickled names of numpy's random generators (numpy 1.x ``__RandomState_ctor``, numpy >= 1.17
#: ``_pickle`` helpers and bit generators): read as :class:`DiscardedObject`.
RANDOM_STATE_NAMES = (
    "numpy.random.__RandomState_ctor", "numpy.random.mtrand.RandomState", "numpy.random.mtrand.__RandomState_ctor",
    "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor", "numpy.random._mt19937.MT19937",
)


def _numpy_globals() -> dict[str, Any]:
    """Pickled name → object for numpy arrays, dtypes and scalars (numpy 1.x and 2.x names)."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    names: dict[str, Any] = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[f"{module}._reconstruct"] = multiarray._reconstruct
        names[f"{module}.scalar"] = multiarray.scalar
    for code in "?bhilqBHILQefdgFDGSUVMmO":  # numpy >= 1.25 dtype classes: ``numpy.dtypes.Float32DType``...
        cls = type(np.dtype(code))
        if cls is not np.dtype:
            names[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return names


def _refused(path: PathLike, what: str, error: type[PoseactError], needs: str, key: str | None = None) -> PoseactError:
    where = f"{what} {str(path)!r}" + (f" (key {key!r})" if key is not None else "")
    return error(f"{where} is refused: it needs {needs} to load, and {WHY} "
                 f"(only open files you trust with other tools)")


# -- checkpoints (torch.load, weights_only) -------------------------------------------------------

def _torch_allow_list() -> list[Any]:
    allowed: list[Any] = [(obj, name) for name, obj in _numpy_globals().items()]
    allowed += [(DiscardedObject, name) for name in RANDOM_STATE_NAMES]
    return allowed


_NEEDS = re.compile(r"(?:GLOBAL|global) ([\w.]+)|unrecognized function ([^\s]+)|but got (<[^>]+>|[\w.]+)")


def load_torch_file(path: PathLike, what: str, error: type[PoseactError]) -> Any:
    """``torch.load`` ``path`` onto the CPU with ``weights_only=True`` and poseact's allow-list
    (module docstring). A file that needs anything else raises ``error`` naming it; an
    unreadable file lets torch's own exception through for the caller to word."""
    import torch

    with torch.serialization.safe_globals(_torch_allow_list()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pickle protocol.*")  # a plain pickle: refused below
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            text = str(e)
            if "Weights only load failed" not in text and "WeightsUnpickler" not in text:
                raise
            detail = text.split("WeightsUnpickler error:")[-1]
            found = _NEEDS.search(detail) or _NEEDS.search(text)
            if found is None:  # not a refusal: a file that is no pickle torch knows (garbage, truncated)
                lines = [ln.strip() for ln in detail.split("Check the documentation")[0].splitlines() if ln.strip()]
                raise pickle.UnpicklingError(lines[-1] if lines else "unreadable pickle") from None
            needs = next(g for g in found.groups() if g)
            needs = needs if "." in needs or needs.startswith("<") else f"builtins.{needs}"  # torch drops it
            raise _refused(path, what, error, needs) from None
        except RuntimeError as e:
            if "legacy .tar format" in str(e):
                raise error(f"{what} {str(path)!r} is in PyTorch's pre-0.4 .tar format (2017), which cannot be "
                            f"read without running code from it; {WHY}") from None
            raise


# -- npz object arrays (a restricted unpickler) -------------------------------------------------

_NPZ_EXTRA = {"collections.OrderedDict": OrderedDict, "_codecs.encode": __import__("codecs").encode,
              "builtins.set": set, "builtins.frozenset": frozenset, "builtins.complex": complex,
              "builtins.bytearray": bytearray, "__builtin__.set": set}


class _PlainDataUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only numpy arrays, dtypes, scalars and plain containers."""

    allowed: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in self.allowed:
            return self.allowed[full]
        raise pickle.UnpicklingError(f"global {full}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("a persistent id")


_PlainDataUnpickler.allowed = {**_numpy_globals(), **_NPZ_EXTRA}


def loads_plain(data: bytes) -> Any:
    """Unpickle ``data`` admitting only what :func:`load_npz_objects` admits (else UnpicklingError)."""
    return _PlainDataUnpickler(io.BytesIO(data)).load()


def load_npz_objects(path: PathLike, keys: list[str] | None = None, what: str = "file",
                     error: type[PoseactError] = PoseactError) -> dict[str, Any]:
    """The arrays of an ``.npz`` archive → ``{key: ndarray}``; object arrays (VideoPose3D's pickled
    dicts) are unpickled with the restricted reader. ``keys`` limits which are read (the others are
    not opened). A member that needs more than plain data raises ``error``; a file that is not an
    ``.npz`` raises ``error`` too. Missing keys are simply absent from the answer."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise error(f"{what} {str(path)!r} is not an .npz archive (as written by np.savez): {e}") from None
    out: dict[str, Any] = {}
    with archive:
        members = {n[:-4] if n.endswith(".npy") else n: n for n in archive.namelist()}
        for key in (members if keys is None else [k for k in keys if k in members]):
            try:
                with archive.open(members[key]) as f:
                    out[key] = _read_npy(f)
            except pickle.UnpicklingError as e:
                needs = str(e).removeprefix("global ") if str(e).startswith("global ") else str(e)
                raise _refused(path, what, error, needs, key) from None
            except (ValueError, EOFError, OSError, zipfile.BadZipFile, TypeError, AttributeError, KeyError,
                    IndexError, UnicodeDecodeError, RecursionError, MemoryError, OverflowError) as e:
                first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
                raise error(f"{what} {str(path)!r}: key {key!r} is unreadable ({type(e).__name__}: {first})") from None
    return out


def _read_npy(f) -> np.ndarray:
    """One ``.npy`` member: numbers through numpy (no pickle), object arrays through the
    restricted unpickler."""
    from numpy.lib import format as npy

    data = f.read()
    buf = io.BytesIO(data)
    version = npy.read_magic(buf)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(buf)
    elif version == (2, 0):
        shape, fortran, dtype = npy.read_array_header_2_0(buf)
    else:  # (3, 0): utf-8 field names; numpy's reader handles it, with pickles refused
        buf.seek(0)
        return npy.read_array(buf, allow_pickle=False)
    if not dtype.hasobject:
        buf.seek(0)
        return npy.read_array(buf, allow_pickle=False)
    array = _PlainDataUnpickler(buf).load()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"the pickled member holds a {type(array).__name__}, not an array")
    if array.shape != tuple(shape):
        raise ValueError(f"the pickled array has shape {array.shape}, its header says {tuple(shape)}")
    return array
