"""Progress of long inference steps on stderr: a live bar on a terminal, one summary line at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class ProgressLine:
    """``with ProgressLine("rendering x.mp4", total=n) as p: ... p.update(done)``: a rich bar while
    stderr is a terminal; always, at the end, ``what: N unit in S s (M ms each)`` on stderr."""

    def __init__(self, what: str, total: int | None = None, unit: str = "frames") -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self._bar = self._task = None

    def __enter__(self) -> "ProgressLine":
        self.start = time.perf_counter()
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        if exc[0] is None:
            seconds = time.perf_counter() - self.start
            each = f" ({1000 * seconds / self.done:.0f} ms each)" if self.done else ""
            unit = self.unit.removesuffix("s") if self.done == 1 else self.unit
            print(f"{self.what}: {self.done} {unit} in {seconds:.1f} s{each}", file=sys.stderr)


def progress_bar(items: Iterable[T], total: int | None, what: str, unit: str = "frames") -> Iterator[T]:
    """Yield ``items`` under a :class:`ProgressLine`."""
    with ProgressLine(what, total, unit) as line:
        for i, item in enumerate(items):
            yield item
            line.update(i + 1)
