"""Reading MATLAB ``.mat`` files (v5, as MPII and Penn Action ship them) with ``scipy.io.loadmat``.

Files are read with ``squeeze_me=True, struct_as_record=False``: a 1×1 struct becomes a
``mat_struct`` with attributes, a 1×K struct array an object array of them (or one ``mat_struct``
when K = 1), empty fields ``[]`` empty arrays. The helpers below flatten these cases so that the
converters read every variant of a field the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poseact.convert.frames import require_path
from poseact.convert.npz import ConversionError, PathLike


def load_mat(path: PathLike, what: str) -> dict[str, Any]:
    """Variables of a MATLAB v5 file (without the ``__header__``-style entries).

    Raises :class:`~poseact.convert.npz.InputNotFoundError` for a missing file and
    :class:`ConversionError` for anything scipy cannot read (v7.3 HDF5 files, text, truncation).
    """
    import scipy.io

    p = require_path(path, what)
    try:
        data = scipy.io.loadmat(p, squeeze_me=True, struct_as_record=False)
    except NotImplementedError as e:  # v7.3 files
        raise ConversionError(f"{p}: MATLAB v7.3 (HDF5) files are not read here; save as v7 ({e})") from None
    except Exception as e:  # scipy raises ValueError, MatReadError, OSError, TypeError, ... on bad files
        raise ConversionError(f"{p}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None
    return {k: v for k, v in data.items() if not k.startswith("__")}


def is_struct(x: Any) -> bool:
    return hasattr(x, "_fieldnames")


def items(x: Any) -> list[Any]:
    """A struct array / cell array / single struct as a list of its elements ([] for empty)."""
    if x is None:
        return []
    if is_struct(x):
        return [x]
    if isinstance(x, np.ndarray):
        return list(x.ravel()) if x.dtype == object else ([] if x.size == 0 else list(x.ravel()))
    return [x]


def field(s: Any, name: str) -> Any:
    """Field ``name`` of struct ``s``; None if the struct lacks it or it is empty."""
    if not is_struct(s) or name not in s._fieldnames:
        return None
    v = getattr(s, name)
    if isinstance(v, np.ndarray) and v.size == 0:
        return None
    if isinstance(v, str) and not v:
        return None
    return v


def number(x: Any) -> float | None:
    """A scalar number from a number, a 1-element array or a numeric string; None if empty/not numeric."""
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        if x.size != 1:
            return None
        x = x.ravel()[0]
    if isinstance(x, (str, bytes)):
        try:
            return float(x)
        except ValueError:
            return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def text(x: Any) -> str | None:
    """A string field (char array) or None."""
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return None
        if x.dtype.kind in "US":
            return str(x.ravel()[0]) if x.size == 1 else "".join(map(str, x.ravel()))
        return None
    return x if isinstance(x, str) else None


def array(x: Any, where: str, shape: tuple[int, ...]) -> np.ndarray:
    """A numeric array reshaped to ``shape`` (squeezed MATLAB matrices lose their size-1 axes)."""
    try:
        a = np.asarray(x, dtype=np.float64) if x is not None else np.zeros(0)
    except (TypeError, ValueError):
        raise ConversionError(f"{where} is not numeric ({type(x).__name__})") from None
    if a.size != int(np.prod(shape)):
        raise ConversionError(f"{where} has {a.size} values (shape {a.shape}), expected shape {shape}")
    return a.reshape(shape)
