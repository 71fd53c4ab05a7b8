"""Reading and writing store files: atomic writes, validation on open, a human summary."""

from __future__ import annotations

import os
import zlib
from collections.abc import Collection
from dataclasses import fields
from pathlib import Path

import h5py
import numpy as np

from poseact.atomic import atomic_output, is_temp, remove_stale_temps
from poseact.errors import StoreError
from poseact.store.mapping import scan_blocks
from poseact.store.schema import SCHEMA, CameraTable, ClipTable, PoseStore

STR = h5py.string_dtype()


#: attribute holding the CRC-32 of a frame array's bytes (C order), verified when the store is opened
CHECKSUM = "crc32"


def _crc32(arr: np.ndarray, block: int = 1 << 26) -> int:
    """CRC-32 of an array's bytes (C order), in blocks of about ``block`` bytes (a memory-mapped
    array is read through the page cache, never copied, and each block is released from this
    process's memory once read: :func:`~poseact.store.mapping.scan_blocks`)."""
    if arr.size == 0:
        return zlib.crc32(b"")
    if arr.ndim == 0:
        return zlib.crc32(memoryview(np.ascontiguousarray(arr)).cast("B"))
    crc = 0
    for lo, hi in scan_blocks(len(arr), max(1, block // max(1, arr[:1].nbytes)), arr):
        crc = zlib.crc32(memoryview(np.ascontiguousarray(arr[lo:hi])).cast("B"), crc)
    return crc


def _with_checksum(ds: h5py.Dataset, arr: np.ndarray) -> None:
    ds.attrs[CHECKSUM] = np.uint32(_crc32(arr))


def _mapped(ds: h5py.Dataset, path: Path) -> np.ndarray | None:
    """A read-only ``np.memmap`` of a contiguous, uncompressed dataset's bytes in the file (None
    when the dataset is chunked, compressed or empty: such datasets are read instead)."""
    offset = ds.id.get_offset()
    if offset is None or ds.chunks is not None or ds.compression is not None or not ds.dtype.isnative:
        return None
    try:
        return np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
    except OSError:  # a file system that cannot map files (some network or FUSE mounts): read it instead
        return None


def _verified(ds: h5py.Dataset, where: str, mmap_from: Path | None = None) -> np.ndarray:
    """A frame array, checked against its checksum (stores written before checksums existed have
    none, and are read as they are): read whole, or with ``mmap_from`` mapped from that file."""
    arr = None
    if mmap_from is not None:
        try:
            arr = _mapped(ds, mmap_from)
        except ValueError:  # the mapping would reach past the end of the file
            raise StoreError(f"{where}: {ds.name.lstrip('/')} reaches past the end of the file (truncated?)") from None
    if arr is None:
        arr = ds[...]
    expected = ds.attrs.get(CHECKSUM)
    if expected is not None and _crc32(arr) != int(expected):
        raise StoreError(f"{where}: {ds.name.lstrip('/')} fails its checksum: the file is corrupt (a bad copy or "
                         f"disk?); convert or copy it again")
    return arr


def write_store(path: str | os.PathLike, store: PoseStore) -> Path:
    """Validate ``store`` and write it to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    store.path = str(path)
    store.validate()
    remove_stale_temps(path.parent)  # what a killed earlier write left beside it
    _check_room(path, store)
    try:
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            _write_contents(f, store)
    except OSError as e:  # h5py names the temporary file, or nothing: name the store
        if e.errno is None or (e.filename is not None and not is_temp(e.filename)):
            raise  # not an operating-system error of the file being written: as it came
        raise StoreError(f"store {str(path)!r} could not be written ({_disk_reason(e, path)}); "
                         f"nothing was left behind") from None
    return path


def _estimated_bytes(store: PoseStore) -> int:
    """About how many bytes the HDF5 file of ``store`` takes (datasets are stored uncompressed)."""
    total = 64 * 1024  # HDF5 structure, attributes, the small tables
    for name in ("keypoints", "confidence", "pose3d", "pose3d_world", "boxes", "head_size", "images"):
        arr = getattr(store, name)
        total += 0 if arr is None else int(arr.nbytes)
    if store.image_ref is not None:
        total += sum(len(str(x)) + 16 for x in store.image_ref)
    return total


def _check_room(path: Path, store: PoseStore) -> None:
    """Refuse before writing when the disk cannot hold the store: HDF5 meeting a full disk can leave
    its library in a state where the next file it opens in this process crashes."""
    import shutil

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    need, free = _estimated_bytes(store), shutil.disk_usage(folder).free
    if need > free:
        raise StoreError(f"store {str(path)!r} could not be written (No space left on device: it needs about "
                         f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB free there); nothing was written")


def _disk_reason(e: BaseException, path: Path) -> str:
    """Why a write failed, in a few words: the OS reason, and the free space when the disk is full."""
    import errno
    import shutil

    text = str(e)
    code = getattr(e, "errno", None)
    if code == errno.ENOSPC or "No space left" in text:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return f"No space left on device: {shutil.disk_usage(folder).free / 1e6:.1f} MB free there"
    if code is not None:
        return os.strerror(code)
    return text.strip().splitlines()[0][:160] if text.strip() else type(e).__name__


def _write_contents(f, store: PoseStore) -> None:
    """The groups, datasets and attributes of a store, into an open HDF5 file."""
    f.attrs.update(schema=SCHEMA, layout_2d=store.layout_2d, layout_3d=store.layout_3d,
                   fps=float(store.fps), units_2d="px", units_3d="m", source=store.source)
    if store.partial:
        f.attrs["partial"] = True
    if store.notes:
        f.attrs["notes"] = store.notes
    frames = f.create_group("frames")
    for name in ("keypoints", "confidence", "pose3d", "pose3d_world", "boxes", "head_size"):
        arr = getattr(store, name)
        if arr is not None:
            _with_checksum(frames.create_dataset(name, data=arr), arr)
    if store.images is not None:
        _with_checksum(frames.create_dataset("images", data=store.images, chunks=(1, *store.images.shape[1:])),
                       store.images)
    if store.image_ref is not None:
        frames.create_dataset("image_ref", data=store.image_ref.astype(STR))
    clips = f.create_group("clips")
    for col in fields(store.clips):
        data = getattr(store.clips, col.name)
        clips.create_dataset(col.name, data=data.astype(STR if data.dtype.kind in "UOS" else np.int64))
    cams = f.create_group("cameras")
    for col in fields(store.cameras):
        data = getattr(store.cameras, col.name)
        cams.create_dataset(col.name, data=data.astype(STR) if data.dtype.kind in "UOS" else data)
    f.create_dataset("actions", data=np.asarray(store.actions, dtype=object).astype(STR))


# ---------------------------------------------------------------------------------------------
# reading


def _read_strings(ds: h5py.Dataset) -> np.ndarray:
    return ds.asstr()[...].astype(str) if len(ds) else np.zeros(0, dtype=str)


#: the frame arrays a store may hold besides ``keypoints`` (always read)
FRAME_ARRAYS = ("confidence", "pose3d", "pose3d_world", "images", "boxes", "head_size")


def open_store(path: str | os.PathLike, load_3d: bool = True, arrays: Collection[str] | None = None,
               mmap: bool = False) -> PoseStore:
    """Read a store (one copy per array, or none with ``mmap``) and validate it.

    ``arrays``: which of :data:`FRAME_ARRAYS` to read besides the keypoints (default: every one the
    file has); ``load_3d=False`` leaves out ``pose3d`` and ``pose3d_world``. ``mmap``: map
    contiguous uncompressed arrays read-only from the file instead of reading them (stores larger
    than memory; the page cache holds what is in use, and nothing is copied), which is how
    :func:`write_store` lays them out.

    Errors name the file and the problem: missing file, not HDF5 / truncated, wrong schema
    version, missing groups, wrong joint counts, NaN in labeled frames.
    """
    path = Path(path)
    where = f"store {str(path)!r}"
    wanted = set(FRAME_ARRAYS if arrays is None else arrays)
    unknown = wanted - set(FRAME_ARRAYS)
    if unknown:
        raise ValueError(f"open_store: unknown frame arrays {sorted(unknown)}; known: {list(FRAME_ARRAYS)}")
    if not load_3d:
        wanted -= {"pose3d", "pose3d_world"}
    if not path.exists():
        raise StoreError(f"{where}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise StoreError(f"{where}: not a readable HDF5 file (corrupt or truncated?): {e}") from None
    source = path if mmap else None
    try:
        with f:
            schema = f.attrs.get("schema")
            if schema != SCHEMA:
                raise StoreError(f"{where}: schema {schema!r}, this poseact reads {SCHEMA!r}")
            try:
                frames, clips, cams = f["frames"], f["clips"], f["cameras"]

                def frame_array(name: str) -> np.ndarray | None:
                    if name not in wanted or name not in frames:
                        return None
                    return _verified(frames[name], where, source)

                store = PoseStore(
                    keypoints=_verified(frames["keypoints"], where, source),
                    confidence=frame_array("confidence"), pose3d=frame_array("pose3d"),
                    pose3d_world=frame_array("pose3d_world"), images=frame_array("images"),
                    image_ref=_read_strings(frames["image_ref"]) if "image_ref" in frames else None,
                    boxes=frame_array("boxes"), head_size=frame_array("head_size"),
                    partial=bool(f.attrs.get("partial", False)), notes=str(f.attrs.get("notes", "")),
                    clips=ClipTable(
                        subject=_read_strings(clips["subject"]), action=clips["action"][...],
                        take=_read_strings(clips["take"]), camera=clips["camera"][...],
                        start=clips["start"][...], length=clips["length"][...]),
                    cameras=CameraTable(
                        name=_read_strings(cams["name"]), subject=_read_strings(cams["subject"]),
                        res=cams["res"][...], intrinsics=cams["intrinsics"][...],
                        orientation=cams["orientation"][...], translation=cams["translation"][...],
                        azimuth=cams["azimuth"][...]),
                    actions=list(_read_strings(f["actions"])),
                    layout_2d=str(f.attrs["layout_2d"]), layout_3d=str(f.attrs["layout_3d"]),
                    fps=float(f.attrs["fps"]), source=str(f.attrs.get("source", "")), path=str(path),
                )
            except KeyError as e:
                raise StoreError(f"{where}: missing {e.args[0] if e.args else 'entry'} (not a poseact store?)") from None
            except OSError as e:
                raise StoreError(f"{where}: read failed (corrupt or truncated?): {e}") from None
    except OSError as e:
        raise StoreError(f"{where}: read failed (corrupt or truncated?): {e}") from None
    store.validate()
    return store


def describe(store: PoseStore) -> str:
    """A short human-readable summary: frames, clips, subjects, actions, layouts, labels."""
    subjects = sorted(set(store.clips.subject))
    labeled = store.labeled_clips()
    return "\n".join([
        f"{store.path}: {store.source or 'poseact store'} ({SCHEMA})",
        f"  frames   {store.num_frames:,} at {store.fps:g} fps; clips {len(store.clips):,} "
        f"({int(labeled.sum())} with 3-D)",
        f"  layouts  2-D {store.layout_2d}, 3-D {store.layout_3d}",
        f"  subjects {', '.join(subjects)}",
        f"  actions  {', '.join(store.actions)}",
        f"  cameras  {len(store.cameras)} (subject, camera) rows, "
        f"{int(store.cameras.has_intrinsics().sum())} with intrinsics",
        *([f"  images   {'rendered crops' if store.images is not None else 'files referenced from the store'}"
           + (", person boxes" if store.boxes is not None else "")
           + (", head sizes" if store.head_size is not None else "")]
          if store.images is not None or store.image_ref is not None else []),
        *([f"  partial  NaN marks joints missing in the annotation "
           f"({float(np.isnan(store.keypoints[..., 0]).mean()):.1%} of 2-D joints)"] if store.partial else []),
        *([f"  notes    {line}" for line in store.notes.splitlines()]),
    ])
