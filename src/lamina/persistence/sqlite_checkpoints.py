"""SQLite WAL checkpoints in a thread of their own, off the commit path.

In WAL mode every commit appends pages to the ``-wal`` file; a *checkpoint*
copies them back into the database file. SQLite's automatic checkpoint runs
inside the commit that crosses its threshold, so that one write pays for
copying (and syncing) everything written before it: about 15 ms per 4 MB on
this project's machines. As SQLite's documentation suggests for such cases,
lamina's connections leave that to a background thread: after a commit that
leaves :data:`CHECKPOINT_BYTES` or more in the WAL not yet copied back, the
:class:`Checkpointer` copies the pages (``PASSIVE``: readers and writers go
on meanwhile, and none of them ever waits for it). The few pages committed
while it ran (at most :data:`CATCH_UP_BYTES`) are copied by the next writer
after its commit, while the pool's other writers wait their turn anyway; the
write after that starts the WAL over from its beginning, overwriting the file
in place, and ``journal_size_limit`` (:data:`WAL_SIZE_LIMIT`) trims a file a
large transaction left bigger. SQLite's own automatic
checkpoint stays on as a safety net, at :data:`FALLBACK_PAGES`, should the
thread fall behind.

How much of the WAL awaits a checkpoint is read, after each commit, from the
header of SQLite's wal-index (the ``-shm`` file: frames in the log and frames
already copied back, as https://www.sqlite.org/walformat.html describes it):
one ``pread``, where the alternative, the WAL file's size, says nothing once the
file is reused. A wal-index of another format than the one described there is
not read; SQLite's own checkpoint then does the work.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import struct
import threading

CHECKPOINT_BYTES = 16 * 1024 * 1024
"""This much of the WAL not yet copied back after a commit gets checkpointed (SQLite's
own default is 4 MB; each round ends with a writer's copy of a millisecond or two, see
:data:`CATCH_UP_BYTES`, so four times fewer rounds save that writer's pause: 10 µs per
audited update on average, measured)."""

CATCH_UP_BYTES = 256 * 1024
"""At most this much of the WAL is copied back by a writer after its commit (about a
millisecond); what a checkpoint left beyond that gets another checkpoint first."""

CATCH_UP_PASSES = 2
"""Checkpoints in a row over a tail too long for the writer; after them the writer copies
the tail whatever its length (what came in during the last, short, checkpoint): writers
may commit faster than a checkpoint, which syncs the file, copies their pages."""

WAL_SIZE_LIMIT = 2 * CHECKPOINT_BYTES
"""``journal_size_limit`` of lamina's connections: a WAL file left larger (by one large
transaction) is cut back to this when the log starts over."""

FALLBACK_PAGES = 16_000
"""``wal_autocheckpoint`` of lamina's connections: the committing connection checkpoints
itself only past this many WAL pages (about 64 MB)."""

_WAL_INDEX_VERSION = 3007000
"""``iVersion`` of the wal-index header whose layout :func:`unchecked_wal_bytes` reads."""
_HEADER = struct.Struct("=I10xHI76xI")
"""The wal-index header's ``iVersion``, ``szPage``, ``mxFrame`` and ``nBackfill``."""
_FRAME_HEADER = 24
"""Bytes of a WAL frame besides its page."""
_HAS_PREAD = hasattr(os, "pread")
"""Where ``os.pread`` is missing (Windows), the wal-index is not read."""


_SHM_FILES: dict[tuple[int, int], tuple[int, int]] = {}
"""Per ``-shm`` file (device, inode): the one descriptor this process reads it through, and
how many checkpointers use it."""
_SHM_FILES_LOCK = threading.Lock()


def open_wal_index(path: str) -> tuple[tuple[int, int], int]:
    """A read-only descriptor of the wal-index ``path`` (a ``-shm`` file), shared by every
    checkpointer of this process, and its key for :func:`close_wal_index`.

    Shared because closing a descriptor drops every POSIX lock the process holds on the
    file, SQLite's included: with its locks gone, another process opening the database
    would take itself for the first one and truncate the wal-index under this process's
    connections (a SIGBUS, or worse). So the descriptor is closed only with the last user.
    """
    with _SHM_FILES_LOCK:
        status = os.stat(path)
        key = (status.st_dev, status.st_ino)
        fd, users = _SHM_FILES.get(key, (-1, 0))
        if fd < 0:
            fd = os.open(path, os.O_RDONLY)
        _SHM_FILES[key] = (fd, users + 1)
        return key, fd


def close_wal_index(key: tuple[int, int]) -> None:
    """Give back a descriptor of :func:`open_wal_index`; closed once nobody uses it (close
    every connection to the database first, SQLAlchemy's included)."""
    with _SHM_FILES_LOCK:
        fd, users = _SHM_FILES[key]
        if users > 1:
            _SHM_FILES[key] = (fd, users - 1)
            return
        del _SHM_FILES[key]
    os.close(fd)


def unchecked_wal_bytes(shm: int) -> int | None:
    """Bytes of WAL frames not yet copied back into the database, from the wal-index
    header in the open ``-shm`` file ``shm``; None if it cannot be read as described
    (in native byte order: ``iVersion`` at 0, ``szPage`` at 14, ``mxFrame`` at 16, and
    the checkpoint's ``nBackfill`` at 96)."""
    header = os.pread(shm, _HEADER.size, 0)
    if len(header) < _HEADER.size:
        return None
    version, page, frames, copied = _HEADER.unpack(header)
    if version != _WAL_INDEX_VERSION:
        return None
    page_bytes = 65536 if page == 1 else int(page)
    return max(int(frames) - int(copied), 0) * (page_bytes + _FRAME_HEADER)


class Checkpointer:
    """Checkpoints one SQLite file's WAL from a thread (and connection) of its own.

    The thread starts with the first checkpoint due and ends with :meth:`stop`
    (a later checkpoint starts a new one). What a checkpoint could not copy back
    (a reader still used it) counts as the new starting point: the next
    checkpoint is due :data:`CHECKPOINT_BYTES` after it, not after every commit.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[bool] | None = None
        """The running thread's queue: True asks for a checkpoint, False ends it."""
        self._thread: threading.Thread | None = None
        self._queued = False
        self._shm: tuple[tuple[int, int], int] | None = None
        """The ``-shm`` file's key and descriptor (:func:`open_wal_index`), opened at the
        first commit that finds it."""
        self._floor = 0
        """WAL bytes the last checkpoint left uncopied (0 once it copied everything)."""
        self._catch_up = False
        """True once a checkpoint copied all it found: the next writer copies what was
        committed meanwhile."""
        self._passes = 0
        """Checkpoints in a row that left a tail too long for the writer."""
        self.checkpoints = 0
        """Checkpoints run so far (for tests and diagnostics)."""

    def after_commit(self) -> bool:
        """Called by a writer after its COMMIT, while the pool's other writers wait: queue a
        checkpoint if one is due; True if instead the writer should copy back, now, the few
        pages committed while the last one ran (:meth:`catch_up`, at most
        :data:`CATCH_UP_BYTES`; a longer tail gets another checkpoint first, up to
        :data:`CATCH_UP_PASSES`), so that the next write starts the WAL over.

        Never raises: the commit has happened, whatever becomes of the checkpoint.
        """
        if self._queued:
            return False
        waiting = self._unchecked()
        if waiting is None:
            return False
        if self._catch_up and (waiting <= CATCH_UP_BYTES or self._passes >= CATCH_UP_PASSES):
            self._catch_up = False
            self._passes = 0
            return True
        if not self._catch_up and waiting < self._floor + CHECKPOINT_BYTES:
            return False
        self._passes = self._passes + 1 if self._catch_up else 0
        with self._lock:
            if self._queued:
                return False
            if self._jobs is None:
                jobs: queue.SimpleQueue[bool] = queue.SimpleQueue()
                thread = threading.Thread(
                    target=self._serve, args=(jobs,), name="lamina-sqlite-checkpoints", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had now: SQLite's fallback remains
                    return False
                self._jobs, self._thread = jobs, thread
            self._queued = True
            self._jobs.put(True)
        return False

    @staticmethod
    def catch_up(raw: sqlite3.Connection) -> None:
        """Copy back, on the writer's connection and in its thread (it syncs the file, a
        millisecond or two), what :meth:`after_commit` found left; never raises."""
        with contextlib.suppress(sqlite3.Error):  # then the next checkpoint due does it
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _unchecked(self) -> int | None:
        """:func:`unchecked_wal_bytes` of this file; None if its wal-index cannot be read."""
        if not _HAS_PREAD:
            return None
        try:
            shm = self._shm
            if shm is None:
                with self._lock:
                    if self._shm is None:
                        self._shm = open_wal_index(f"{self._path}-shm")
                    shm = self._shm
            return unchecked_wal_bytes(shm[1])
        except OSError:
            return None

    def stop(self) -> None:
        """End the thread, if any, and wait for it (a checkpoint it runs finishes first)."""
        with self._lock:
            jobs, thread = self._jobs, self._thread
            self._jobs = self._thread = None
            shm, self._shm = self._shm, None
        if jobs is not None and thread is not None:
            jobs.put(False)
            thread.join()
        if shm is not None:
            close_wal_index(shm[0])
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
                copied_all = False
                with contextlib.suppress(sqlite3.Error):
                    # PASSIVE: copies what no reader still needs, never blocks a writer
                    busy, logged, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    copied_all = not busy and copied == logged
                self._floor = self._unchecked() or 0
                # Nothing pinned: what is left came in meanwhile, for a writer to finish
                self._catch_up = copied_all
                self._queued = False
        finally:
            raw.close()
