"""Read frames from a video or a folder of images, write mp4 (imageio-ffmpeg's bundled ffmpeg)
or gif (Pillow). Frames are ``(H, W, 3)`` uint8 RGB.

Writers go to a temporary file beside the target and rename at the end, so a failed render
leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from poseact.atomic import atomic_output
from poseact.errors import MissingFileError, VideoError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_FORMATS = (".mp4", ".gif", ".png")  # .png: one frame (a photo's render)


def is_video(path: str | os.PathLike) -> bool:
    """A file that is not a keypoint file or a still image (GIFs count as videos)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() not in (".json", ".npz") + IMAGE_SUFFIXES


def is_image(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def image_sizes(folder: str | os.PathLike) -> list[tuple[str, int, int]]:
    """``(file name, width, height)`` of each image of a folder, sorted by name, read from the
    headers only (Pillow)."""
    from PIL import Image

    out = []
    for f in _image_files(Path(folder)):
        try:
            with Image.open(f) as im:
                out.append((f.name, *im.size))
        except Exception as e:  # noqa: BLE001 - Pillow raises many types
            raise VideoError(f"image {str(f)!r} cannot be decoded: {_first_line(e)}") from None
    return out


def gif_fps(path: str | os.PathLike) -> float | None:
    """A GIF's frame rate from its first frame's duration (None when it does not say)."""
    from PIL import Image

    with Image.open(path) as im:
        ms = im.info.get("duration")
    return round(1000.0 / ms, 3) if ms else None


def video_info(path: str | os.PathLike) -> dict:
    """``{"width", "height", "fps", "frames"}`` of a video file or an image folder (fps None)."""
    p = Path(path)
    if p.is_dir():
        files = _image_files(p)
        h, w = _read_image(files[0]).shape[:2]
        return {"width": w, "height": h, "fps": None, "frames": len(files)}
    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
        h, w = _read_image(p).shape[:2]
        return {"width": w, "height": h, "fps": None, "frames": 1}
    first = next(iter_frames(p, limit=1))
    if p.suffix.lower() == ".gif":
        from PIL import Image

        with Image.open(p) as im:
            count = getattr(im, "n_frames", 1)
        return {"width": first.shape[1], "height": first.shape[0], "fps": gif_fps(p), "frames": int(count)}
    import imageio.v2 as iio2

    with iio2.get_reader(p, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
    fps = meta.get("fps")
    nframes = meta.get("nframes")
    return {"width": first.shape[1], "height": first.shape[0], "fps": float(fps) if fps else None,
            "frames": int(nframes) if isinstance(nframes, (int, float)) and np.isfinite(nframes) else None}


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _image_files(folder: Path) -> list[Path]:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoError(f"folder {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _read_image(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        img = iio.imread(path)
    except Exception as e:  # noqa: BLE001 - imageio raises many types
        raise VideoError(f"image {str(path)!r} cannot be decoded: {_first_line(e)}") from None
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def iter_frames(path: str | os.PathLike, limit: int | None = None, skip: int = 0) -> Iterator[np.ndarray]:
    """Frames of a video file (decoded by ffmpeg; GIFs by Pillow), of one image, or of a folder of
    images (sorted by name)."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"video {str(p)!r} not found")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        if skip == 0 and (limit is None or limit > 0):
            yield _read_image(p)
        return
    if p.is_dir():
        files = _image_files(p)[skip:]
        for f in files[:limit] if limit is not None else files:
            yield _read_image(f)
        return
    import imageio.v2 as iio2

    try:
        reader = iio2.get_reader(p) if p.suffix.lower() == ".gif" else iio2.get_reader(p, format="FFMPEG")
    except Exception as e:  # noqa: BLE001
        raise VideoError(f"video {str(p)!r} cannot be decoded: {_first_line(e)}") from None
    n = 0
    try:
        for i, frame in enumerate(_guarded(reader, p)):
            if i < skip:
                continue
            if limit is not None and n >= limit:
                break
            n += 1
            yield np.ascontiguousarray(frame[..., :3])
    finally:
        reader.close()
    if n == 0 and (limit is None or limit > 0):
        raise VideoError(f"video {str(p)!r} has no decodable frames")


def _guarded(reader, p: Path) -> Iterator[np.ndarray]:
    it = iter(reader)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001
            raise VideoError(f"video {str(p)!r} cannot be decoded: {_first_line(e)}") from None


def write_video(frames: Iterable[np.ndarray], output: str | os.PathLike, fps: float) -> Path:
    """Write RGB frames to ``.mp4`` (H.264 via imageio-ffmpeg), ``.gif``, or one frame to ``.png``; atomic."""
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise VideoError(f"output {str(out)!r}: use one of {VIDEO_FORMATS}")
    with atomic_output(out) as tmp:
        if suffix == ".png":
            from PIL import Image

            images = list(frames)
            if len(images) != 1:
                raise VideoError(f"output {str(out)!r}: a .png holds one frame, not {len(images)}")
            Image.fromarray(images[0]).save(tmp, format="PNG")
        elif suffix == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            if not images:
                raise VideoError(f"output {str(out)!r}: no frames to write")
            images[0].save(tmp, save_all=True, append_images=images[1:], loop=0,
                           duration=max(int(round(1000 / fps)), 20))
        else:
            import imageio.v2 as iio2

            n = 0
            try:
                # veryfast: ~2x quicker to encode than x264's default preset at the same quality setting
                with iio2.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                                     macro_block_size=2, pixelformat="yuv420p", output_params=["-preset", "veryfast"],
                                     ffmpeg_log_level="quiet") as w:  # its failures become one line below
                    for f in frames:
                        w.append_data(_even(f))
                        n += 1
            except (OSError, RuntimeError) as e:  # ffmpeg died (a full disk): its pipe broke under us
                raise VideoError(f"output {str(out)!r}: the encoder stopped: {_encoder_reason(e)}") from None
            if n == 0:
                raise VideoError(f"output {str(out)!r}: no frames to write")
            _check_written(tmp, n, out)
    return out


def _encoder_reason(e: Exception) -> str:
    """The line of ffmpeg's message that says why (e.g. "No space left on device"), else the first."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if "No space left" in ln or "Permission denied" in ln or "Read-only" in ln:
            return ln.split("] ")[-1]
    if isinstance(e, BrokenPipeError) or "Broken pipe" in str(e):
        return "ffmpeg stopped taking frames (is the disk full, or the folder not writable?)"
    return lines[0] if lines else type(e).__name__


def _check_written(tmp: Path, frames: int, out: Path) -> None:
    """ffmpeg may end without an error the writer sees (a full disk): the file must decode to every
    frame written, else the output is refused (and its temporary removed by ``atomic_output``)."""
    import imageio_ffmpeg

    try:
        found, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp))
    except (RuntimeError, OSError) as e:
        raise VideoError(f"output {str(out)!r}: the encoder's file does not decode ({_first_line(e)}); "
                         f"is the disk full?") from None
    if found != frames:
        raise VideoError(f"output {str(out)!r}: the encoder wrote {found} of {frames} frames; is the disk full?")


def _even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: crop one row/column when odd."""
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]
