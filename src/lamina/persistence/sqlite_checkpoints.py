"""SQLite WAL checkpoints in a thread of their own, off the commit path.

In WAL mode every commit appends pages to the ``-wal`` file; a *checkpoint*
copies them back into the database file. SQLite's automatic checkpoint runs
inside the commit that crosses its threshold, so that one write pays for
copying (and syncing) everything written before it: about 15 ms per 4 MB on
this project's machines. As SQLite's documentation suggests for such cases,
lamina's connections leave that to a background thread: after a commit that
leaves the WAL file at :data:`CHECKPOINT_BYTES` or more, the
:class:`Checkpointer` copies the pages back (``PASSIVE``: readers and writers
go on meanwhile) and then truncates the file when nothing still needs it.
SQLite's own automatic checkpoint stays on as a safety net, at
:data:`FALLBACK_PAGES`, should the thread fall behind.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading

CHECKPOINT_BYTES = 4 * 1024 * 1024
"""A WAL file this large after a commit gets checkpointed (SQLite's own default: 1000 pages)."""

FALLBACK_PAGES = 16_000
"""``wal_autocheckpoint`` of lamina's connections: the committing connection checkpoints
itself only past this many WAL pages (about 64 MB)."""


class Checkpointer:
    """Checkpoints one SQLite file's WAL from a thread (and connection) of its own.

    The thread starts with the first checkpoint due and ends with :meth:`stop`
    (a later checkpoint starts a new one). A WAL file that a checkpoint could not
    empty (a reader still used it) counts as the new starting size: the next
    checkpoint is due :data:`CHECKPOINT_BYTES` after it, not after every commit.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wal = f"{path}-wal"
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[bool] | None = None
        """The running thread's queue: True asks for a checkpoint, False ends it."""
        self._thread: threading.Thread | None = None
        self._queued = False
        self._floor = 0
        """Size of the WAL file after the last checkpoint (0 once it was emptied)."""
        self.checkpoints = 0
        """Checkpoints run so far (for tests and diagnostics)."""

    def after_commit(self) -> None:
        """Called in a connection's thread after its COMMIT: queue a checkpoint if one is due.

        Never raises: the commit has happened, whatever becomes of the checkpoint.
        """
        if self._queued:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size < self._floor + CHECKPOINT_BYTES:
            return
        with self._lock:
            if self._queued:
                return
            if self._jobs is None:
                jobs: queue.SimpleQueue[bool] = queue.SimpleQueue()
                thread = threading.Thread(
                    target=self._serve, args=(jobs,), name="lamina-sqlite-checkpoints", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had now: SQLite's fallback remains
                    return
                self._jobs, self._thread = jobs, thread
            self._queued = True
            self._jobs.put(True)

    def stop(self) -> None:
        """End the thread, if any, and wait for it (a checkpoint it runs finishes first)."""
        with self._lock:
            jobs, thread = self._jobs, self._thread
            self._jobs = self._thread = None
        if jobs is not None and thread is not None:
            jobs.put(False)
            thread.join()
        self._queued = False

    def _serve(self, jobs: queue.SimpleQueue[bool]) -> None:
        try:
            raw = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error:
            with self._lock:  # the next commit that finds a checkpoint due tries again
                if self._jobs is jobs:
                    self._jobs = self._thread = None
                    self._queued = False
            return
        try:
            raw.execute("PRAGMA busy_timeout=0")  # never wait: a later commit asks again
            raw.execute("PRAGMA synchronous=NORMAL")
            while jobs.get():
                with contextlib.suppress(sqlite3.Error):
                    self._checkpoint(raw)
                try:
                    self._floor = os.stat(self._wal).st_size
                except OSError:
                    self._floor = 0
                self._queued = False
        finally:
            raw.close()

    def _checkpoint(self, raw: sqlite3.Connection) -> None:
        busy, logged, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if not busy and logged == copied:
            # Every page is back in the database file: empty the WAL unless a
            # reader or writer still uses it (then busy, and it stays as it is).
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
