"""A stand-in for the Hugging Face hub on loopback: the routes huggingface_hub uses to list a repository,
read file metadata and download files (with ranges), serving model folders built by the tests.

Point `HF_ENDPOINT` at `url` (before huggingface_hub is imported, or patch `constants.ENDPOINT`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlparse

from tests.loopback import LoopbackServer

API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(/revision/[^/]+|/tree/[^/]+(?P<sub>/.*)?)?$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/[^/]+/(?P<path>.+)$")


class HubStandIn(LoopbackServer):
    """Serves `repos` (repo id → folder); `served_bytes` counts the file bytes sent per repo."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        self.served_bytes: dict[str, int] = {}
        self._lock = threading.Lock()
        super().__init__()

    @staticmethod
    def commit(repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def files(self, repo: str) -> list[tuple[str, Path]]:
        folder = self.repos[repo]
        return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, body: object, status: int = 200) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _missing(self, repo: str | None) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if repo in hub.repos else "RepoNotFound")
                self.send_header("X-Error-Message", "not found")
                if repo in hub.repos:
                    self.send_header("X-Repo-Commit", hub.commit(repo))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                self._serve(body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def _serve(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                api = API.match(path)
                if api:
                    repo = api["repo"]
                    if repo not in hub.repos:
                        return self._missing(None)
                    entries = [{"type": "file", "oid": hashlib.sha1(p.read_bytes()).hexdigest(), "size": p.stat().st_size,
                                "path": name} for name, p in hub.files(repo)]
                    if "/tree/" in path:
                        return self._json(entries)
                    return self._json({"id": repo, "modelId": repo, "sha": hub.commit(repo), "private": False,
                                       "siblings": [{"rfilename": e["path"], "size": e["size"]} for e in entries]})
                resolve = RESOLVE.match(path)
                if not resolve or resolve["repo"] not in hub.repos:
                    return self._missing(resolve["repo"] if resolve else None)
                repo, name = resolve["repo"], resolve["path"]
                file = hub.repos[repo] / name
                if not file.is_file():
                    return self._missing(repo)
                data = file.read_bytes()
                start, end = 0, len(data) - 1
                ranged = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged:
                    start = int(ranged[1])
                    end = min(int(ranged[2]) if ranged[2] else end, end)
                chunk = data[start : end + 1]
                self.send_response(206 if ranged else 200)
                self.send_header("X-Repo-Commit", hub.commit(repo))
                self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(chunk)))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(chunk)
                    with hub._lock:
                        hub.served_bytes[repo] = hub.served_bytes.get(repo, 0) + len(chunk)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
