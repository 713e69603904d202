"""Run a command with a throwaway PostgreSQL server: `make test` runs pytest through this.

    python tests/pg_cluster.py -- .venv/bin/python -m pytest ...

When SIGNET_TEST_POSTGRES_URL is set, that server is used and the command runs as is. Otherwise
this makes a cluster of its own, so the postgres-marked tests run (never skip) on any machine
with the PostgreSQL packages `make system-deps` installs:

- initdb into a fresh temporary folder (data, socket and log all inside it); as root, the
  cluster runs as an unprivileged user that owns it (SIGNET_TEST_PG_USER, default the
  `postgres` account the package made, else `nobody`);
- the server listens on 127.0.0.1 only, on a free port, and on a unix socket in that folder
  (mode 0700: only its owner can use the superuser's passwordless socket login);
- the role `signet` (LOGIN CREATEDB, a random password) owns the database `signet_test`, as
  .ci/run's server used to: the tests create and drop one database each;
- the command runs with SIGNET_TEST_POSTGRES_URL pointing there; afterwards, also after a
  failure, Ctrl-C or SIGTERM, the server is stopped and the folder removed.
The cluster is for tests only: fsync is off.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ENV = "SIGNET_TEST_POSTGRES_URL"


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else x for x in Path(p).parts[-3].split(".")])
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise SystemExit("pg_cluster: no PostgreSQL found: `make system-deps` installs it "
                     f"(or set {ENV} to a server of yours)")


def default_user() -> str:
    """initdb refuses root: the `postgres` account the package made, else `nobody`."""
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        return "nobody"


def utf8_locale() -> str:
    """C.UTF-8 when the system has it (as Debian's clusters do): with plain C, PostgreSQL's
    lower() and ILIKE fold only ASCII, and a search for "Émile" would not find "émile"."""
    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    return "C.UTF-8" if {"C.utf8", "C.UTF-8"} & set(listed) else "C"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One throwaway cluster in one temporary folder, owned by `user` when we are root."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="signet-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.port = 0
        self.password = secrets.token_urlsafe(18)
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(os.environ.get("SIGNET_TEST_PG_USER") or default_user())
            self.as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.run("mkdir", "-m", "700", str(self.sockets))

    def run(self, program: str, *args: str, stdin: str | None = None) -> None:
        """A program as the cluster's owner, in the folder; its output only if it fails."""
        path = str(self.bin / program) if (self.bin / program).exists() else program
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LC_ALL": "C"}
        done = subprocess.run([*self.as_user, path, *args], cwd=self.root, env=env, input=stdin,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pg_cluster: {program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", f"--locale={utf8_locale()}",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        for attempt in range(5):  # a free port may be taken between probing and binding
            self.port = free_port()
            settings = {"listen_addresses": "'127.0.0.1'", "port": self.port,
                        "unix_socket_directories": f"'{self.sockets}'", "max_connections": 200,
                        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
            self.run("tee", "-a", str(self.data / "postgresql.conf"),
                     stdin="".join(f"{key} = {value}\n" for key, value in settings.items()))
            try:
                self.run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self.run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockets), "-p", str(self.port),
                 "-U", "postgres", "-d", "postgres",
                 stdin=f"CREATE ROLE signet LOGIN CREATEDB PASSWORD '{self.password}';\n"
                       "CREATE DATABASE signet_test OWNER signet;\n")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://signet:{self.password}@127.0.0.1:{self.port}/signet_test"

    def remove(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and delete the folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            except RuntimeError as error:
                print(error, file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)


def run_command(command: list[str], env: dict[str, str]) -> int:
    """The command as a child, waited for. A terminal's Ctrl-C reaches the child directly (same
    process group), so we ignore SIGINT as a shell does for its foreground job, and let the
    child's own interrupt handling finish first; SIGTERM and SIGHUP sent to us are passed on."""
    child = subprocess.Popen(command, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}
    previous.update({sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)})
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise SystemExit(__doc__)
    if os.environ.get(ENV):
        return run_command(argv, dict(os.environ))
    # SIGTERM during set-up or clean-up: leave through `finally`, which removes the cluster.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    cluster = Cluster()
    try:
        cluster.start()
        print(f"pg_cluster: a throwaway PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.root})", file=sys.stderr)
        return run_command(argv, {**os.environ, ENV: cluster.url})
    except KeyboardInterrupt:
        return 130
    finally:
        cluster.remove()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
