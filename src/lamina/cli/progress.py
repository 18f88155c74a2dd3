"""A progress bar on stderr, for commands that work through many rows."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``label [#####.....] 50% 5,000/10,000 1,234/s`` on one line of stderr.

    On a terminal the line is redrawn in place; elsewhere (a log, a pipe) a
    line is written at each tenth of the way, so the output stays short.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self._tty = self.stream.isatty()
        self._started = time.monotonic()
        self._tenth = -1
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total``."""
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if not self._tty and tenth == self._tenth:
            return
        self._tenth = tenth
        filled = int(fraction * WIDTH)
        rate = done / max(time.monotonic() - self._started, 1e-9)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} "
            f"{done:,}/{total:,} {rate:,.0f}/s"
        )
        self.stream.write(f"\r{line}" if self._tty else f"{line}\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self._tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
