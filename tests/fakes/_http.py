"""A threaded loopback HTTP/1.1 server base for the JSON fakes (Translate, Polly)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SECRET_HEADERS", "LoopbackServer"]

SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)

    def drop_connections(self) -> None:
        """Shut down kept-alive client connections so their threads can end."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class LoopbackServer:
    """Runs ``handle(handler)`` for every request on ``http://127.0.0.1:<port>``.

    Subclasses implement :meth:`handle`. ``with Server() as s:`` starts it; leaving the block
    shuts it down and joins every thread (the accept loop and per-request threads).
    """

    thread_name = "fake-http"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a backstop for idle kept-alive connections

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                outer.handle(self)

            def do_POST(self) -> None:
                outer.handle(self)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and join the threads (idempotent)."""
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.drop_connections()
            self._httpd.server_close()  # joins request threads (block_on_close)
            self._httpd = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    # helpers for subclasses ------------------------------------------------------------------
    def record(self, handler: BaseHTTPRequestHandler, body: Any) -> dict[str, Any]:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "headers": {
                k: v for k, v in handler.headers.items() if k.lower() not in SECRET_HEADERS
            },
            "body": body,
        }
        with self._lock:
            self.requests.append(entry)
        return entry

    @staticmethod
    def read_json(handler: BaseHTTPRequestHandler) -> Any:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    @staticmethod
    def send_json(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        content_type: str = "application/x-amz-json-1.1",
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-amzn-RequestId", "fake-request-id")
        if error_type:
            handler.send_header("x-amzn-ErrorType", error_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
