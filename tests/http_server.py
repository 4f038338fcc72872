"""A local HTTP server on 127.0.0.1 for download tests: serves ../shared/data, plus failure modes.

Paths: ``/data/<file>`` serves the file; ``/status/<code>/<anything>`` answers that status;
``/truncated/<file>`` announces the full length but sends half; ``/flaky/<file>`` answers 503 to the
first request for each file, then serves it. Every request path is recorded in ``server.requests``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    root: Path
    requests: list[str]
    seen: set[str]

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.requests.append(self.path)
        kind, _, rest = self.path.lstrip("/").partition("/")
        if kind == "status":
            code = int(rest.split("/")[0])
            self.send_error(code)
            return
        if kind == "flaky" and rest not in self.seen:
            self.seen.add(rest)
            self.send_error(503)
            return
        file = self.root / rest
        if kind not in ("data", "truncated", "flaky") or not file.is_file():
            self.send_error(404)
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "truncated" else body)


class LocalServer:
    """Context manager running the server in a thread; ``url`` is its base address."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_Handler,), {"root": root, "requests": [], "seen": set()})
        self.requests = handler.requests
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
