"""The catalogue of user errors: every problem a user can cause and fix.

Each class below is raised with a message that names the thing at fault (the file, the config key
and its value, the clip and frame, the option) and says what would be accepted. ``poseact``'s
``main`` is the one boundary that turns any :class:`PoseactError` into a single line
``poseact: error: <message>`` and exit status 2; anything else is a bug and keeps its traceback.

The classes also derive from the built-in exception a caller would expect (``ValueError`` for a
bad value, ``FileNotFoundError`` for a missing input), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import sys


class PoseactError(Exception):
    """Base of every user error: the message is one line that says what is wrong and where."""


class ConfigError(PoseactError, ValueError):
    """A config file, override or value does not fit the schema or its meaning (names the key)."""


class MissingFileError(PoseactError, FileNotFoundError):
    """An input file or folder the user named does not exist."""


class StoreError(PoseactError, ValueError):
    """A store file is missing, unreadable, corrupt or does not follow the schema."""


class FrameImageError(StoreError):
    """An image file referenced by a store cannot be read or cropped (names store, clip, frame, file)."""


class SelectionError(PoseactError, ValueError):
    """A subject/action filter or subset setting selects nothing or is invalid for the store."""


class CheckpointError(PoseactError, ValueError):
    """A checkpoint is unreadable, not a poseact/VideoPose3D checkpoint, or of another model family
    or architecture than the command needs."""


class RunFolderError(PoseactError, ValueError):
    """A run's output folder cannot be written, or holds a run that cannot be resumed with this config."""


class TrainingError(PoseactError, RuntimeError):
    """Training cannot go on (a non-finite loss, nothing trained); says at which step and why."""


class ConversionError(PoseactError, ValueError):
    """A dataset file given to a converter cannot be interpreted (names the file and the entry)."""


class InputNotFoundError(ConversionError, FileNotFoundError):
    """A converter input file is missing."""


class SweepError(PoseactError, ValueError):
    """A sweep YAML that cannot run; names the file and the key."""


class UsageError(PoseactError, ValueError):
    """Command-line options that are out of range or do not go together (names the option)."""


class CalibrationError(PoseactError, ValueError):
    """A camera calibration file (Qualisys .qca.txt, Pose2Sim/OpenCV TOML, YAML) that cannot be read;
    names the file, the camera and the key."""


class KeypointFileError(PoseactError, ValueError):
    """A 2-D keypoint file that cannot be read or is not in a supported layout."""


class LayoutError(PoseactError, ValueError):
    """Keypoints cannot be brought into the joint layout a model expects."""


class UnknownLayoutError(LayoutError, KeyError):
    """A joint layout name poseact does not know (also a ``KeyError``: a failed lookup)."""

    __str__ = Exception.__str__  # KeyError would quote the message


class NoPersonError(PoseactError, ValueError):
    """Nobody (or too little of a person) was found in the input."""


class DetectionError(PoseactError, RuntimeError):
    """The 2-D detector (its environment, or its run) failed."""


class VideoError(PoseactError, ValueError):
    """A video, GIF, image or image folder cannot be read, or a video cannot be written."""


def run_cli(prog: str, command) -> int:
    """The error boundary of every poseact program (``poseact``, the ``data_prep/`` scripts): run
    ``command()`` and turn a user error — a :class:`PoseactError`, or an operating-system error that
    names a file (read-only disk, no space, permission) — into one line ``<prog>: error: ...`` on
    stderr and exit status 2; Ctrl-C into ``<prog>: interrupted`` and 130, SIGTERM into
    ``<prog>: terminated`` and 143 — also when Lightning has caught the interrupt and turned it into
    ``exit(1)``; a reader of stdout that went away (``| head``) into a quiet exit 141 (128 + SIGPIPE),
    stdout pointed at /dev/null. Anything else is a bug and keeps its traceback.

    Ctrl-C (SIGINT) and SIGTERM unwind as an exception, so every file being written is removed
    before the program stops: 130 and 143. They do so even where the program was started with
    SIGINT ignored (a background job of a script)."""
    import signal
    import sys

    handle_interrupts()
    _received.clear()  # a signal belongs to the command it interrupted
    try:
        code = int(command() or 0)
        sys.stdout.flush()  # inside the boundary: a closed pipe is found here, not at exit
        if interrupt_received() is not None:  # swallowed in a finaliser, and nothing committed since
            return _stopped(prog, interrupt_received())
        return code
    except BrokenPipeError:  # stdout's reader went away (``poseact ... | head``): stop quietly
        _silence_stdout()
        return 141
    except PoseactError as e:
        print(f"{prog}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.filename is None and e.errno not in _DISK_ERRNOS:
            raise
        where = f"{e.filename!s}: " if e.filename is not None else ""
        reason = e.strerror if e.filename is not None and e.strerror else _strerror(e)
        print(f"{prog}: error: {where}{_one_line(str(reason))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return _stopped(prog, interrupt_received() or (e.args[0] if e.args else signal.SIGINT))
    except SystemExit as e:  # Lightning turns the KeyboardInterrupt of a signal into exit(1)
        if interrupt_received() is None:
            raise
        return _stopped(prog, interrupt_received())


def _disk_errnos() -> frozenset[int]:
    import errno

    return frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EFBIG", "EIO")
                     if hasattr(errno, n))


#: operating-system errors of the place written to (full, read-only, no permission): the user's to fix,
#: even when the library that met them did not name the file (h5py, torch, ffmpeg)
_DISK_ERRNOS = _disk_errnos()


def _strerror(e: OSError) -> str:
    import os

    return os.strerror(e.errno) + " (while writing an output; what was being written has been removed)"


def _stopped(prog: str, signum) -> int:
    """The one line and exit status of a run stopped by SIGINT (130) or SIGTERM (143)."""
    import signal
    import sys

    terminated = signum == signal.SIGTERM
    print(f"{prog}: {'terminated' if terminated else 'interrupted'}; partial outputs removed", file=sys.stderr)
    return 143 if terminated else 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not fail on the closed pipe again."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (captured): nothing to silence
        pass


def handle_interrupts() -> None:
    """Make SIGINT and SIGTERM raise ``KeyboardInterrupt`` (their number as its argument), so
    partial outputs are removed on the way out; programs call it first thing, before heavy
    imports. Idempotent; only the main thread can."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupted)
        if sys.unraisablehook is not _unraisable:
            global _default_unraisable
            _default_unraisable = sys.unraisablehook
            sys.unraisablehook = _unraisable
    _quiet_lightning_on_interrupt()


def _quiet_lightning_on_interrupt() -> None:
    """Drop Lightning's own lines about a signal ("Detected KeyboardInterrupt, attempting graceful
    shutdown", "Received SIGTERM"): the boundary says it once, in its one line."""
    import logging

    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.trainer.connectors.signal_connector",
                 "lightning.pytorch.utilities.rank_zero", "lightning.pytorch.trainer.connectors.signal_connector"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SignalNoise) for f in logger.filters):
            logger.addFilter(_SignalNoise())


class _SignalNoise:
    """A logging filter that drops Lightning's messages about the signal being handled."""

    def filter(self, record) -> bool:
        message = str(record.msg)
        return not ("Detected KeyboardInterrupt" in message or "Received SIGTERM" in message
                    or "Bypassing SIGTERM" in message)


_received: list[int] = []  # the signals taken by _interrupted, in order


def _interrupted(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt(signum)


_default_unraisable = None  # Python's own hook, kept for every other unraisable exception


def _unraisable(info) -> None:
    """A Ctrl-C / SIGTERM that landed in a finaliser (a weakref callback, ``__del__``) is dropped by
    Python, which prints "Exception ignored ... Traceback" and goes on. It is recorded
    (:func:`interrupt_received`), so the next atomic commit stops the run and :func:`run_cli` ends
    it as interrupted: no traceback for it here."""
    if isinstance(info.exc_value, KeyboardInterrupt) and _received:
        return
    (_default_unraisable or sys.__unraisablehook__)(info)


def interrupt_received() -> int | None:
    """The first SIGINT/SIGTERM taken since :func:`handle_interrupts`, or None. Python drops an
    exception raised while it runs a finaliser (a weakref callback, ``__del__``), so a Ctrl-C can
    be swallowed there and the work go on; :func:`poseact.atomic.atomic_output` asks this before it
    commits a file, so such a run still ends interrupted with nothing written."""
    return _received[0] if _received else None


def _one_line(message: str) -> str:
    return " ".join(message.split()) if "\n" in message else message
