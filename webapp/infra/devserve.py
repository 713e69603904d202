"""`make run`'s supervisor: starts its servers, and on Ctrl-C stops them all and exits 0.

Usage: python -m webapp.infra.devserve -- [NAME=value ...] cmd args... -- [NAME=value ...] cmd args...

Why not a shell `trap 'kill 0' EXIT INT TERM`: `kill 0` signals the shell itself, whose TERM
trap runs `kill 0` again until bash overflows its stack ("Segmentation fault"), and it signals
make too. Here one process owns the servers: SIGINT or SIGTERM (a terminal's Ctrl-C reaches the
whole process group) is passed on to each server as SIGINT (gunicorn's quick shutdown), we wait
until every one has exited, escalating to SIGTERM then SIGKILL for a server that lingers, and
exit 0. A server that stops on its own stops the others and makes the exit status 1.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PATIENCE = (5.0, 3.0)  # seconds after SIGINT before SIGTERM, then after SIGTERM before SIGKILL


def parse(argv: list[str]) -> list[tuple[dict[str, str], list[str]]]:
    """Split `-- A=1 cmd x -- cmd y` into commands, each with its leading NAME=value words as env."""
    commands: list[tuple[dict[str, str], list[str]]] = []
    for word in argv:
        if word == "--":
            commands.append(({}, []))
        elif not commands:
            raise SystemExit(f"devserve: expected '--' before {word!r}")
        else:
            env, args = commands[-1]
            if not args and ASSIGNMENT.match(word):
                name, _, value = word.partition("=")
                env[name] = value
            else:
                args.append(word)
    if not commands or any(not args for _, args in commands):
        raise SystemExit("devserve: give at least one command, each after '--'")
    return commands


class Supervisor:
    """Owns the child servers and the one decision of when they all stop."""

    def __init__(self, commands: list[tuple[dict[str, str], list[str]]]):
        self.commands = commands
        self.children: list[subprocess.Popen] = []
        self.stopping = False

    def request_stop(self, signum=None, frame=None) -> None:
        """Signal handler: only flags; the main loop does the signalling and the waiting."""
        self.stopping = True

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self.request_stop)
        for env, args in self.commands:
            if self.stopping:
                break
            # Each server in a process group of its own: a signal reaches its workers too (even
            # SIGKILL, so no orphan keeps a port), and only once, from here.
            self.children.append(subprocess.Popen(args, env={**os.environ, **env}, process_group=0,
                                                  preexec_fn=_ignore_sigint))
        failed = self.wait_for_first_exit()
        self.stop_all()
        return 1 if failed else 0

    def wait_for_first_exit(self) -> bool:
        """Until Ctrl-C (False) or a server's own exit (True, after saying which one)."""
        while not self.stopping:
            for child, (_, args) in zip(self.children, self.commands):
                if child.poll() is not None:
                    print(f"devserve: {os.path.basename(args[0])} stopped on its own "
                          f"(status {child.returncode}): stopping the others", file=sys.stderr)
                    return True
            time.sleep(0.1)
        return False

    def stop_all(self) -> None:
        """SIGINT to each server still running; SIGTERM, then SIGKILL, to any that lingers; and
        last, SIGKILL to whatever is left in a server's group (a worker whose master died)."""
        for sig, patience in ((signal.SIGINT, PATIENCE[0]), (signal.SIGTERM, PATIENCE[1]), (signal.SIGKILL, 10.0)):
            alive = [c for c in self.children if c.poll() is None]
            if not alive:
                break
            for child in alive:
                child.send_signal(sig)
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline and any(c.poll() is None for c in alive):
                time.sleep(0.05)
        for child in self.children:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # the usual case: the whole group has exited


def _ignore_sigint() -> None:
    """In a child before exec: a Ctrl-C that lands while a server is still importing is ignored
    instead of printing a KeyboardInterrupt traceback (gunicorn installs its own SIGINT handler
    once it runs, and SIGTERM follows for a server that ignored it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: list[str]) -> int:
    return Supervisor(parse(argv)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
