"""Atomic writes: every file poseact writes appears whole, or not at all.

A file is written to a temporary sibling (same folder, so the final ``os.replace`` is a rename on
one file system), flushed to disk, then renamed over the target. If anything fails on the way —
an exception, a full disk, Ctrl-C — the temporary file is removed and the target is untouched. A
process killed outright (SIGKILL, power loss) cannot clean up: its temporary files carry the
writer's process id in their name (``.<name>.poseact-tmp-<pid>-<token><suffix>``), and
:func:`remove_stale_temps` deletes those whose writer is gone, which every run does in the folders
it writes to before it starts.

The temporary name keeps the target's last suffix, so writers that infer the format from it
(``np.savez``, Pillow, imageio, h5py) behave as they would on the target.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMP_TAG = "poseact-tmp"
_TEMP_NAME = re.compile(rf"^\..+\.{TEMP_TAG}-(\d+)-[0-9a-f]+(\.[^.]*)?$")


def temp_sibling(path: str | os.PathLike) -> Path:
    """A fresh temporary path next to ``path`` that :func:`remove_stale_temps` recognises."""
    path = Path(path)
    return path.with_name(f".{path.name}.{TEMP_TAG}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on a clean exit it is synced and
    renamed to ``path``, on any exception (``KeyboardInterrupt`` included) it is removed.

    The parent folder is created if needed. The writer may create the temporary file itself
    (``torch.save(obj, tmp)``, ``h5py.File(tmp, "w")``)."""
    path = Path(path)
    created = _make_parents(path.parent)
    tmp = temp_sibling(path)
    try:
        yield tmp
        from poseact.errors import interrupt_received

        signum = interrupt_received()
        if signum is not None:  # a Ctrl-C that Python swallowed in a finaliser still stops the commit
            raise KeyboardInterrupt(signum)
        if tmp.is_file():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        for folder in created:  # the folders made for this file, innermost first, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; the folders it created, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir(exist_ok=True)
    return missing


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, **dumps: Any) -> Path:
    """``json.dumps(obj, **dumps)`` written atomically."""
    return write_text(path, json.dumps(obj, **dumps))


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """``np.savez_compressed(path, **arrays)`` written atomically."""
    import numpy as np

    with atomic_output(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


@contextmanager
def staging_folder(folder: str | os.PathLike, name: str = "output") -> Iterator[Path]:
    """A temporary folder inside ``folder`` for outputs that must appear together: on a clean exit
    every file in it is moved into ``folder`` (replacing files of the same name) and the staging
    folder removed; on an exception it is removed with everything in it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = temp_sibling(folder / name)
    stage.mkdir()
    try:
        yield stage
        for f in sorted(stage.iterdir()):
            os.replace(f, folder / f.name)
    finally:
        _remove(stage)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Refuse, before any work, an output file that cannot be written: a folder in its place, a
    file where a parent folder should be, a read-only or forbidden folder. Creates nothing."""
    from poseact.errors import RunFolderError

    p = Path(path)
    if p.is_dir():
        raise RunFolderError(f"{what} {str(p)!r} is a folder; give a file name")
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise RunFolderError(f"{what} {str(p)!r} cannot be written: {str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "a read-only file system" if _read_only(folder) else "no permission to write there"
        raise RunFolderError(f"{what} {str(p)!r} cannot be written: {str(folder)!r} is {why}")
    return p


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (ours always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def is_temp(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like one of this module's temporary files or folders."""
    return _TEMP_NAME.match(Path(path).name) is not None


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Delete temporary files and folders of this module's naming whose writing process is gone
    (killed before it could clean up); returns what was removed. Missing folders are fine."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    candidates = folder.rglob(f".*.{TEMP_TAG}-*") if recursive else folder.glob(f".*.{TEMP_TAG}-*")
    for p in list(candidates):
        m = _TEMP_NAME.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            _remove(p)
            removed.append(p)
    return removed
