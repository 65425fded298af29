"""A stand-in for ZeroGPU's device API on loopback, answering the routes the `spaces` client calls.

`spaces.zero.client` POSTs `/startup-report` at launch, `/schedule` before each GPU call (JSON
`{"idle", "nvidiaIndex", "nvidiaUUID", "allowToken"}`, or 429 with `{"left", "wait"}` when the
quota is spent), `/allow` from the forked worker and `/release` when the call ends. Every request
is recorded so tests can see what the app asked for.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.loopback import LoopbackServer


class DeviceAPI(LoopbackServer):
    """Start with `start()`; `calls` lists (path, query) in arrival order; set `refuse_next` to spend the quota."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.refuse_next = 0
        self._lock = threading.Lock()
        super().__init__()

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.calls if p == path)

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, dict | None]:
        with self._lock:
            self.calls.append((path, query))
            if path == "/schedule" and self.refuse_next > 0:
                self.refuse_next -= 1
                return 429, {"left": 0, "wait": 300}
        if path == "/schedule":
            return 200, {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": "GPU-simulated", "allowToken": uuid.uuid4().hex}
        if path in ("/startup-report", "/allow", "/release"):
            return 200, None
        return 404, None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                parsed = urlparse(self.path)
                query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, body = api._answer(parsed.path, query)
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
