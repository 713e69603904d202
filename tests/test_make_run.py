"""`make run` stops cleanly: a terminal's Ctrl-C (SIGINT to the whole process group) stops both
servers quickly, prints no crash or error line, and leaves both ports free.

The test runs `make -s serve-only`, the very command line `make run` ends with (the Makefile's
$(SERVE)), without the install and migration steps in front of it."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAD_LINE = re.compile(r"segmentation fault|traceback|error|exception|interrupt", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer, whatever its status
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    """Nobody listens, and a new server could bind it (as gunicorn does, with SO_REUSEADDR)."""
    with socket.socket() as client:
        client.settimeout(1)
        if client.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def servers_left(ports: tuple[int, int], within: float) -> list[str]:
    """Processes (masters or workers) whose command line binds one of `ports`, still there after
    `within` seconds (exiting ones get that long). The servers run in process groups of their
    own, so they are found by their command line, not by the group."""
    binds = [f":{port} " for port in ports]
    deadline = time.monotonic() + within
    while True:
        left = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                words = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace") + " "
            except OSError:
                continue
            if "gunicorn" in words and any(bind in words for bind in binds):
                left.append(f"{cmdline.parent.name}: {words[:160]}")
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_stops_both_servers_cleanly_and_frees_both_ports(tmp_path):
    port, demo_port = free_port(), free_port()
    env = {**os.environ, "SIGNET_DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
           "SIGNET_SECRET_KEY": "make-run-test", "MAKEFLAGS": ""}
    env.pop("MAKELEVEL", None)
    log = (tmp_path / "out.log").open("w+")
    make = subprocess.Popen(["make", "-s", "serve-only", f"PORT={port}", f"DEMO_PORT={demo_port}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (answers(port) and answers(demo_port)):
            assert make.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "the servers did not answer within 60 s"
            time.sleep(0.2)

        started = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        make.wait(timeout=10)
        took = time.monotonic() - started
        survivors = servers_left((port, demo_port), within=1.0)
        group_left = not group_is_gone(make.pid)
    finally:
        if make.poll() is None or not group_is_gone(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        for left in servers_left((port, demo_port), within=0):  # only when the test failed
            os.kill(int(left.split(":")[0]), signal.SIGKILL)

    output = Path(log.name).read_text()
    assert took < 10
    # make re-raises the SIGINT it got after its recipe (the supervisor) exited 0: that is silent.
    assert make.returncode in (0, -signal.SIGINT), (make.returncode, output)
    assert not [line for line in output.splitlines() if BAD_LINE.search(line)], output
    assert "Listening at: http://127.0.0.1:%d" % port in output  # the output was really captured
    assert not survivors, f"outlived Ctrl-C: {survivors}"
    assert not group_left, "make or the supervisor outlived Ctrl-C"
    assert port_is_free(port) and port_is_free(demo_port)


def test_make_run_on_other_ports_allows_the_demo_site_there(app):
    """`make run DEMO_PORT=8001` passes --site-url: the reused demo workspace allows that origin
    too, so the demo page on the new port can still load the widget."""
    import json

    from webapp.services.workspace import tenants

    runner = app.test_cli_runner()
    first = runner.invoke(args=["signet", "demo", "--if-missing", "--quiet"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["signet", "demo", "--if-missing", "--quiet", "--site-url", "http://localhost:8001"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout.strip().splitlines()[0])
    assert data["demo_site"] == "http://localhost:8001"
    with app.app_context():
        origins = tenants.get_tenant(data["tenant_id"]).allowed_origins
    assert origins == ["http://localhost:5001", "http://localhost:8001"]
