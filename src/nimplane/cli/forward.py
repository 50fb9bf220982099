"""`nimplane inference nim port-forward`: a local HTTP listener on 127.0.0.1 that carries each
request to a NIM service through nimplane's `/api/v2/workloads/nim-services/{id}/proxy/...`
with the context's token, and passes the service's answer back as it is.

The forwarding goes through the API (not a TCP tunnel): HTTP only, GET and POST, one request at
a time (the calls share the context's token, refreshed once when it expires: two refreshes at
once would present the same refresh token twice, which the server takes as theft).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Final

from nimplane.cli.client import Client, CliError

PASSED_REQUEST_HEADERS: Final = ("accept", "content-type")
PASSED_RESPONSE_HEADERS: Final = ("content-type",)


class PortForward:
    """A local listener forwarding to one workload; `serve_forever` until `shutdown`."""

    running: ClassVar[list[PortForward]] = []
    """The listeners serving now (what a test stops, as Ctrl-C would)."""

    def __init__(self, api: Client, workload_id: str, port: int, host: str = "127.0.0.1") -> None:
        self.api = api
        self.prefix = f"/api/v2/workloads/nim-services/{workload_id}/proxy"
        self._lock = threading.Lock()
        forward = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                forward.relay(self, "GET")

            def do_POST(self) -> None:
                forward.relay(self, "POST")

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the command prints only its URL and errors."""

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def relay(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Forward one request and write the answer back."""
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        headers = {k: v for k in PASSED_REQUEST_HEADERS if (v := handler.headers.get(k))}
        path = handler.path if handler.path.startswith("/") else "/" + handler.path
        try:
            with self._lock:
                response = self.api.call(method, self.prefix + path, content=body, headers=headers)
            status, content = response.status_code, response.content
            passed = {k: v for k in PASSED_RESPONSE_HEADERS if (v := response.headers.get(k))}
        except CliError as exc:
            status, content = 502, f"nimplane port-forward: {exc.message}\n".encode()
            passed = {"content-type": "text/plain; charset=utf-8"}
        handler.send_response(status)
        for name, value in passed.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def serve_forever(self) -> None:
        PortForward.running.append(self)
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            PortForward.running.remove(self)
            self.server.server_close()

    def shutdown(self) -> None:
        """Stop serving (from another thread)."""
        self.server.shutdown()
