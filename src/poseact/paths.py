"""Where poseact finds and keeps things, whatever the working directory.

* **Caches** (generated synthetic stores, rendered images, the MediaPipe environment) live in one
  place: ``$POSEACT_CACHE``, else ``$XDG_CACHE_HOME/poseact``, else ``~/.cache/poseact``.
* **The repository's configs** are found from the installed package (an editable install of this
  repository): :func:`repository_root` / :func:`find_config`, so ``poseact fit
  configs/experiment/demo.yaml`` and the notebooks work from any folder.
* **Relative paths inside a config file** (keys named in :data:`PATH_KEYS`) resolve against the
  folder that holds the file's ``configs/`` tree (the repository), or the file's own folder when it
  is not in such a tree; paths given on the command line resolve against the working directory.
  ``output_dir`` is not a path key: a run goes where you run it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: config keys whose relative values are paths (resolved against the config file, see above)
PATH_KEYS = frozenset({"store", "store_unlabeled", "checkpoint", "init_checkpoint", "cache_dir"})


def cache_dir(*parts: str) -> Path:
    """``$POSEACT_CACHE`` / ``$XDG_CACHE_HOME/poseact`` / ``~/.cache/poseact``, joined with ``parts``."""
    root = os.environ.get("POSEACT_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "poseact"
    return Path(root).expanduser().absolute().joinpath(*parts)


def repository_root() -> Path | None:
    """The folder holding ``configs/`` beside ``src/poseact`` (an editable install), else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "configs").is_dir() else None


def find_config(path: str | os.PathLike) -> Path:
    """``path`` as given when it exists (relative to the working directory), else relative to the
    repository (``configs/experiment/demo.yaml``) or its ``configs/`` folder
    (``experiment/demo.yaml``); else ``path`` unchanged, for the caller's "not found"."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    root = repository_root()
    if root is not None:
        for candidate in (root / p, root / "configs" / p):
            if candidate.exists():
                return candidate
    return p
