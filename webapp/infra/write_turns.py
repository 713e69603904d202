"""SQLite writers of this app take turns on a lock file before they ask SQLite for its write lock.

SQLite has one writer at a time, and a writer that finds the database locked waits in SQLite's
busy handler, which polls: it sleeps 1 ms, then 2, 5, 10 ms… before it looks again. A set-user
write holds the lock for a few hundred microseconds, so a worker process that collides with
another sleeps several times longer than the write it waits for; two gunicorn workers writing
all the time served fewer requests than one (issue 18: 903 against 983 requests/s for users
whose organizations change).

Here each write transaction first takes an exclusive `flock` on `lock`, and whoever lets go of it
rings a doorbell (one byte into the FIFO `bell`), both in the folder `.<database file>.writers`
beside the database (hidden, and apart from the database's own files: a script that reads every
`<database>*` file, to copy or check it, would wait forever on a FIFO). A
writer that finds the turn taken waits on the doorbell, wakes within microseconds of the release,
and takes the turn; the SQLite lock it then asks for is free. The doorbell is only a wake-up (a
ring may be lost, or be meant for someone else): a waiter also looks again every few
milliseconds. There is no fairness beyond the kernel's: whoever looks first after a release
takes the turn. A writer that waited `wait_seconds` (SQLite's busy timeout) without getting it is
told so (`acquire` returns False): the caller answers as SQLite would have after the same wait.

The turn orders this app's writers; SQLite's own lock still guards the file: a writer that does
not take the turn (another program, the sqlite3 shell) is excluded by SQLite, and a process that
dies holding the turn releases it with its file descriptors (why the turn is a `flock`, not a
semaphore). Where the files cannot be opened (a read-only folder, a file made by another user),
writers go without turns and meet SQLite's busy handler, as before this module; where the
doorbell is not a FIFO, waiters only look again now and then. Threads of one process (gthread)
queue on a threading lock first, since `flock` does not exclude two holders of one open file;
the files are opened once per process (a descriptor inherited from the master would be one lock
shared by every worker), and a forked child starts with no turn held.
"""
from __future__ import annotations

import fcntl
import logging
import os
import select
import stat
import threading
import time
import weakref

log = logging.getLogger("signet.write_turns")
LOOK_AGAIN_SECONDS = 0.005  # a waiter's own look at the turn, doorbell or not
_holding = threading.local()  # .turns: the WriteTurns this thread holds, if any
_all: "weakref.WeakSet[WriteTurns]" = weakref.WeakSet()


def release_held() -> None:
    """Let go of the turn this thread holds, if any (the end of every write transaction)."""
    turns = getattr(_holding, "turns", None)
    if turns is not None:
        turns.release()


class WriteTurns:
    """The turn of one SQLite database: `acquire()` before a write transaction's BEGIN IMMEDIATE
    (or a write sent alone), `release()` when the transaction is over. A thread holds one turn at
    most: taking it again (or another database's while it holds one) is nothing, and one release
    ends it (database.writing releases it when its transaction ends, however many BEGINs it saw)."""

    def __init__(self, database_path: str, wait_seconds: float):
        self.folder = folder_for(database_path)
        self.lock_path = os.path.join(self.folder, "lock")
        self.bell_path = os.path.join(self.folder, "bell")
        self.wait_seconds = wait_seconds
        self._threads = threading.Lock()
        self._pid = 0  # the process the files below were opened in
        self._usable = False
        self._lock_fd = self._bell_fd = -1
        self._bell: select.poll | None = None
        _all.add(self)

    def held(self) -> bool:
        """Whether this thread holds the turn."""
        return getattr(_holding, "turns", None) is self

    def acquire(self) -> bool:
        """Take the turn: False when it was not had within `wait_seconds`; True when taken, already
        held, or when turns cannot be had in this process (SQLite alone decides then)."""
        if getattr(_holding, "turns", None) is not None:
            return True
        deadline = time.monotonic() + self.wait_seconds
        if not self._threads.acquire(timeout=self.wait_seconds):
            return False
        try:
            if not self._open():
                self._threads.release()
                return True
            taken = self._take_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        if not taken:
            self._threads.release()
            return False
        _holding.turns = self
        return True

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

    def _open(self) -> bool:
        """The files, opened once per process: whether turns can be had here."""
        if self._pid == os.getpid():
            return self._usable
        self._pid, self._usable, self._lock_fd, self._bell_fd, self._bell = os.getpid(), False, -1, -1, None
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            log.warning("SQLite writers go without turns (%s: %s)", self.lock_path, error.strerror)
            return False
        self._bell_fd = _open_fifo(self.bell_path)
        if self._bell_fd >= 0:
            self._bell = select.poll()  # (select.select cannot watch a descriptor numbered 1024 or more)
            self._bell.register(self._bell_fd, select.POLLIN)
        weakref.finalize(self, _close, self._pid, self._lock_fd, self._bell_fd)  # an app let go of: its files too
        self._usable = True
        return True

    def _take_file(self, deadline: float) -> bool:
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
            if self._bell is not None:
                self._bell.poll(max(1, int(min(left, LOOK_AGAIN_SECONDS) * 1000)))
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


def folder_for(database_path: str) -> str:
    """The folder of a database's turn: `.<file name>.writers` beside it."""
    head, name = os.path.split(os.path.abspath(database_path))
    return os.path.join(head, f".{name}.writers")


def _open_fifo(path: str) -> int:
    """The doorbell, read and write ends in one (opening a FIFO read-write never blocks, and this
    process both rings and listens); -1 where there is none to be had (no FIFOs on this file
    system, or something else at the path)."""
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return -1
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return -1
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # a plain file would always read as rung
        os.close(fd)
        return -1
    return fd


def _close(pid: int, *fds: int) -> None:
    if pid != os.getpid():
        return
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _after_fork_in_child() -> None:
    """A forked child holds no turn (its parent's thread may have): it opens its own files."""
    global _holding
    _holding = threading.local()
    for turns in list(_all):
        turns._threads = threading.Lock()
        turns._pid = 0


os.register_at_fork(after_in_child=_after_fork_in_child)
