"""A gunicorn worker that slow clients cannot pin: `--worker-class webapp.infra.serving.BufferingWorker`.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the
thread then blocks reading the rest, so a client sending one byte a second holds a thread for as
long as it likes, and as many such sockets as threads stop the server (issue 19: 8 sockets, 8
threads, a normal request waited over 30 s). This worker reads each request on the worker's
event loop first, without a thread: the head, and a body of known length or chunked up to
BUFFER_LIMIT, and only then queues it for a thread, which parses it from memory. A request not
complete within READ_SECONDS of its first byte is dropped (the connection closed). In production
put nginx in front as well (docs/DEPLOY.md): it buffers the same way and bounds connections.
TLS connections (gunicorn's --certfile) are served as gthread serves them.
"""
from __future__ import annotations

import re
import selectors
import time
from functools import partial

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

READ_SECONDS = 10.0
BUFFER_LIMIT = 1024 * 1024 + 64 * 1024  # the app's MAX_CONTENT_LENGTH plus a generous head
# At most 18 digits: a longer value (Python's int() refuses over 4 300 digits, and the error would
# end the worker) is no length, so the request counts as complete and gunicorn's parser refuses it.
_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,18})[ \t]*\r?$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding:[^\r\n]*chunked", re.I | re.M)
_EXPECT = re.compile(rb"^expect:[ \t]*100-continue", re.I | re.M)
_CHUNK_SIZE = re.compile(rb"([0-9a-fA-F]+)(;[^\r\n]*)?\r\n")


def request_complete(data: bytes) -> bool:
    """Whether `data` holds a whole request, or enough for the server to answer it: a head with
    no body, a body of the declared length, a chunked body to its last chunk, or anything
    malformed (the parser answers it at once)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) >= BUFFER_LIMIT
    head, body = data[:end + 2], data[end + 4:]
    if _EXPECT.search(head):
        return True  # the client waits for "100 Continue" before sending its body
    if _CHUNKED.search(head):
        return _chunks_complete(body)
    length = _LENGTH.search(head)
    return length is None or len(body) >= min(int(length.group(1)), BUFFER_LIMIT)


def _chunks_complete(body: bytes) -> bool:
    position = 0
    while True:
        size = _CHUNK_SIZE.match(body, position)
        if size is None:
            # A size line still arriving, or a malformed one (the parser will say 400).
            return b"\r\n" in body[position:position + 40] or len(body) - position > 40
        position = size.end() + int(size.group(1), 16) + 2
        if int(size.group(1), 16) == 0:
            return body.find(b"\r\n\r\n", size.end() - 2) >= 0 or len(body) >= BUFFER_LIMIT
        if position > len(body):
            return len(body) >= BUFFER_LIMIT


class BufferingWorker(ThreadWorker):
    """gthread, with each request read in full on the event loop before a thread takes it."""

    def init_process(self):
        self.reading = {}  # conn → (bytearray read so far, deadline)
        super().init_process()

    def accept(self, listener):
        if self.cfg.is_ssl:
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError:  # nothing to accept after all (another worker took it), or aborted
            return None
        self.nr_conns += 1
        self._read(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))
        return None

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection's next request: read on the loop too."""
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read(conn)
        return None

    def _read(self, conn) -> None:
        conn.sock.setblocking(False)
        self.reading[conn] = (bytearray(), time.monotonic() + READ_SECONDS)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn, _sock) -> None:
        buffer, _deadline = self.reading[conn]
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data and not buffer:
            self._drop(conn)  # closed before sending anything
            return
        buffer += data
        # At the end of what the client sends (it half-closed), the parser answers what it got.
        if not data or request_complete(bytes(buffer)):
            self.poller.unregister(conn.sock)
            del self.reading[conn]
            if conn.parser is None:
                conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader.unread(bytes(buffer))
            conn.data_ready = True
            self.enqueue_req(conn)

    def _drop(self, conn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    def _cap_keepalive(self, deadline):
        """Stopping: requests still being read get as long as kept-alive connections (2 s)."""
        super()._cap_keepalive(deadline)
        for conn, (buffer, own) in self.reading.items():
            self.reading[conn] = (buffer, min(own, deadline))

    def murder_keepalived(self, force=False):
        """Each turn of the loop: also drop the requests not read within READ_SECONDS."""
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, (_buffer, deadline) in list(getattr(self, "reading", {}).items()):
            if force or deadline <= now:
                self._drop(conn)
