"""SQLite writers of this app take turns on a lock file before they ask SQLite for its write lock.

SQLite has one writer at a time, and a writer that finds the database locked waits in SQLite's
busy handler, which polls: it sleeps 1 ms, then 2, 5, 10 ms… before it looks again. A set-user
write holds the lock for a few hundred microseconds, so a worker process that collides with
another sleeps several times longer than the write it waits for; two gunicorn workers writing
all the time served fewer requests than one (issue 18: 903 against 983 requests/s for users
whose organizations change).

Here each write transaction first takes an exclusive `flock` on `<database>-writers.lock`, and
whoever lets go of it rings a doorbell (one byte into the FIFO `<database>-writers.bell`). A
writer that finds the turn taken waits on the doorbell, wakes within microseconds of the release,
and takes the turn; the SQLite lock it then asks for is free. The wait is bounded: the doorbell
is only a wake-up (a ring may be lost, or be meant for someone else), so a waiter also looks again
every few milliseconds, and after `wait_seconds` (SQLite's busy timeout) goes on to SQLite's own
wait, as every writer did before this module.

The turn is a queue in front of SQLite's lock, never a substitute for it: a writer that does not
take it (another program, the sqlite3 shell) is still excluded by SQLite, and a process that dies
holding its turn releases it with its file descriptors (that is why the turn is a `flock` and not
a semaphore). Threads of one process (gthread) queue on a threading lock first, since `flock` does
not exclude two holders of one open file; the files are opened once per process (after a fork,
anew: a descriptor inherited from the master would be one lock shared by every worker).
"""
from __future__ import annotations

import fcntl
import os
import select
import threading
import time
import weakref

LOOK_AGAIN_SECONDS = 0.005  # a waiter's own look at the turn, doorbell or not
_holding = threading.local()  # .turns: the WriteTurns this thread holds, if any


def release_held() -> None:
    """Let go of the turn this thread holds, if any (the end of every write transaction)."""
    turns = getattr(_holding, "turns", None)
    if turns is not None:
        turns.release()


class WriteTurns:
    """The turn of one SQLite database. `acquire()` before a write transaction's BEGIN IMMEDIATE
    (or a write sent alone); `release()` when the transaction is over. A thread holds the turn at
    most once: taking it again is nothing, and one release ends it (database.writing releases it
    when its transaction ends, however many BEGINs it saw)."""

    def __init__(self, database_path: str, wait_seconds: float):
        self.lock_path = f"{database_path}-writers.lock"
        self.bell_path = f"{database_path}-writers.bell"
        self.wait_seconds = wait_seconds
        self._threads = threading.Lock()
        self._pid = 0
        self._lock_fd = self._bell_fd = -1

    def held(self) -> bool:
        """Whether this thread holds the turn."""
        return getattr(_holding, "turns", None) is self

    def acquire(self) -> None:
        """Take the turn, or give up after `wait_seconds` (the writer then meets SQLite's own wait)."""
        if getattr(_holding, "turns", None) is not None:
            return  # this one already, or another database's: one at a time
        deadline = time.monotonic() + self.wait_seconds
        if not self._threads.acquire(timeout=self.wait_seconds):
            return
        try:
            taken = self._take_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        if taken:
            _holding.turns = self
        else:
            self._threads.release()

    def release(self) -> None:
        """Let go of the turn this thread holds (nothing when it holds none) and ring the doorbell."""
        if not self.held():
            return
        _holding.turns = None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            if self._bell_fd >= 0:
                try:
                    os.write(self._bell_fd, b"\0")
                except BlockingIOError:  # the pipe is full of rings nobody waited for: one more adds nothing
                    pass
        finally:
            self._threads.release()

    def _open(self) -> None:
        if self._pid == os.getpid():
            return
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.mkfifo(self.bell_path, 0o600)
        except FileExistsError:
            pass
        # Read and write ends in one: opening a FIFO read-write never blocks, and this process can
        # both ring and listen. Where FIFOs cannot be made, waiters only look again now and then.
        try:
            self._bell_fd = os.open(self.bell_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._bell_fd = -1
        self._pid = os.getpid()
        weakref.finalize(self, _close, self._lock_fd, self._bell_fd)  # an app (engine) let go of: its files too

    def _take_file(self, deadline: float) -> bool:
        self._open()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # free: the usual case, one system call
        except BlockingIOError:
            pass
        while True:
            self._drain()  # before looking: a release after this look rings again, and is heard
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._bell_fd >= 0:
                select.select([self._bell_fd], [], [], min(left, LOOK_AGAIN_SECONDS))
            else:
                time.sleep(min(left, LOOK_AGAIN_SECONDS))

    def _drain(self) -> None:
        if self._bell_fd < 0:
            return
        try:
            while os.read(self._bell_fd, 4096):
                pass
        except BlockingIOError:
            pass


def _close(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
