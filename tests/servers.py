"""Real server processes for tests that cross process boundaries or drive a browser."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`gunicorn wsgi:app` on a free loopback port with the given environment."""

    def __init__(self, env: dict, workers: int = 1, threads: int = 8, app: str = "wsgi:app",
                 access_log: str | None = None, args: tuple[str, ...] = ()):
        """`access_log`: a file for gunicorn's access log (`--access-logfile`, default format);
        `args`: more gunicorn options (`--worker-class …`)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "SIGNET_RATELIMIT": "off", **env}
        self.log_path = Path(env.get("SIGNET_TEST_LOG_DIR", "/tmp")) / f"signet-server-{self.port}.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--threads", str(threads), "--graceful-timeout", "2", "--no-control-socket",
             *(["--access-logfile", str(access_log)] if access_log else []), *args, app],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def migrate(database_url: str, secret_key: str) -> None:
    env = {**os.environ, "SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": secret_key}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def migrated_app(folder: Path, secret_key: str, file: str = "signet.sqlite3", **config):
    """A SQLite database in `folder`, migrated as a deploy would, and an app on it for setup and
    assertions beside a real server: (database URL, app)."""
    from webapp import create_app

    url = f"sqlite:///{folder / file}"
    migrate(url, secret_key)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret_key, **config}, instance_path=str(folder))
    return url, app


class RedisServer:
    """A private redis-server on a free port that a test can stop and start again."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT): the kernel still accepts connections, nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


class PostgresServer:
    """A private PostgreSQL cluster on a free port that a test can stop and start again.

    initdb refuses to run as root, so under root the cluster belongs to the `postgres` user.
    """

    def __init__(self):
        import glob
        import shutil
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries are missing (apt-get install postgresql)")
        self.bin = bins[-1]
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="signet-pg-")
        self.data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [os.path.join(self.bin, tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the postmaster and every backend: the server's kernel still
        accepts connections and acknowledges packets, but nothing answers."""
        with open(os.path.join(self.data, "postmaster.pid")) as handle:
            main = int(handle.readline())
        pids = [main]
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == main:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # the process ended meanwhile
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
            except ProcessLookupError:
                pass  # a backend that ended between the listing and the signal

    def destroy(self) -> None:
        import shutil

        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class HttpClient:
    """urllib with a cookie jar: enough to GET a form and POST it back with its CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post_form(self, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=body), timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
