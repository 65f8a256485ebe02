"""A small stand-in for the Hugging Face Hub's file routes, served on 127.0.0.1 for tests.

It answers HEAD and GET on `/{repo_id}/resolve/{revision}/{filename}` for in-memory repos (commits
of files, branches pointing at commits) with the headers huggingface_hub's `hf_hub_download`
reads: `X-Repo-Commit`, `ETag` (plus `X-Linked-Etag` and `X-Linked-Size` for LFS files such as
`*.safetensors`) and `Content-Length`; failures carry the Hub's `X-Error-Code` (`RepoNotFound` with
401 when anonymous, `RevisionNotFound`, `EntryNotFound`). Every request is logged in `requests`, so
a test can assert that a load made no network call, and one file can be served damaged on purpose:
`"truncated"` serves its first half as if it were the whole file (a bad blob lands in the cache),
`"cut"` announces the full size but sends only half (a download cut short). Repos of other types
are keyed as their URLs name them (`spaces/user/name`). Every other route goes to `api()`, which
finds nothing here; `tests/hub_standin_uploads.py` adds the Hub's write API there.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")  # served the way the Hub serves LFS files


class HubStandIn:
    """In-memory Hub repos {repo_id: {commit: {filename: bytes}}} behind a loopback HTTP server."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}
        self.branches: dict[str, dict[str, str]] = {}  # repo_id -> branch name -> commit
        self.damage: dict[tuple[str, str], str] = {}  # (repo_id, filename) -> "truncated" | "cut"
        self.requests: list[tuple[str, str]] = []  # (method, path), in arrival order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content -------------------------------------------------------------------------------

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Add a commit holding `files` on top of `branch`; return its 40-hex sha."""
        parent = self.branches.get(repo_id, {}).get(branch, "")
        digest = hashlib.sha1(parent.encode())
        for name in sorted(files):
            digest.update(name.encode() + hashlib.sha256(files[name]).digest())
        sha = digest.hexdigest()
        self.commits.setdefault(repo_id, {})[sha] = dict(files)
        self.branches.setdefault(repo_id, {})[branch] = sha
        return sha

    def commit_folder(self, repo_id: str, folder: str | Path, branch: str = "main") -> str:
        """Commit every file directly inside `folder` (a `save_pretrained` output)."""
        files = {path.name: path.read_bytes() for path in Path(folder).iterdir() if path.is_file()}
        return self.commit(repo_id, files, branch)

    # -- server --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubStandIn:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.hub = self  # type: ignore[attr-defined]
        self._server = server
        # a short poll interval makes stop() quick: shutdown() waits for the loop to notice
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- routing -------------------------------------------------------------------------------

    def respond(
        self, method: str, raw_path: str, token: str | None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; the body is dropped for HEAD by the handler."""
        with self._lock:
            self.requests.append((method, raw_path))
        url = urlsplit(raw_path)
        parts = url.path.strip("/").split("/")
        # /{namespace}/{name}/resolve/..., /{name}/resolve/... (old repos), /spaces/{ns}/{name}/...
        if method in ("GET", "HEAD") and "resolve" in parts[1:4]:
            return self.resolve(parts, authorized=token is not None)
        return self.api(method, url.path, url.query, token, body)

    def api(
        self, method: str, path: str, query: str, token: str | None, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Routes other than /resolve: none in this stand-in."""
        return _error(404, None, "Sorry, we can't find the page you are looking for.")

    # -- the /resolve route ------------------------------------------------------------------

    def resolve(self, parts: list[str], authorized: bool) -> tuple[int, dict[str, str], bytes]:
        """HEAD or GET of `/{repo}/resolve/{revision}/{path...}`, split at '/' into `parts`."""
        at = parts.index("resolve", 1)
        if len(parts) < at + 3:
            return _error(404, None, "Sorry, we can't find the page you are looking for.")
        repo_id = "/".join(parts[:at])
        revision = unquote(parts[at + 1])
        filename = unquote("/".join(parts[at + 2 :]))

        commits = self.commits.get(repo_id)
        if commits is None:  # anonymous callers get 401 for missing *and* private repos
            return _error(404 if authorized else 401, "RepoNotFound", "Repository not found")
        commit = self.branches[repo_id].get(revision, revision)
        if commit not in commits:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = commits[commit]
        if filename not in files:
            status, headers, body = _error(404, "EntryNotFound", "Entry not found")
            headers["X-Repo-Commit"] = commit
            return status, headers, body

        content = files[filename]
        body, announced = content, len(content)
        mode = self.damage.get((repo_id, filename))
        if mode in ("truncated", "cut"):
            body = content[: len(content) // 2]
        if mode == "truncated":  # consistent headers: the short file is taken as the whole
            announced = len(body)
        headers = {"X-Repo-Commit": commit, "Content-Type": "application/octet-stream"}
        if filename.endswith(LFS_SUFFIXES):
            etag = f'"{hashlib.sha256(content).hexdigest()}"'
            headers |= {"ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(announced)}
        else:  # a git blob's etag is its git sha-1
            headers["ETag"] = f'"{git_blob_sha(content)}"'
        return 200, headers, body


def git_blob_sha(content: bytes) -> str:
    """The sha-1 git names a blob by."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _error(status: int, code: str | None, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"X-Error-Message": message, "Content-Type": "text/plain; charset=utf-8"}
    if code is not None:
        headers["X-Error-Code"] = code
    return status, headers, message.encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as huggingface_hub's httpx client expects

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_POST(self) -> None:
        self._answer(send_body=True)

    def do_PUT(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        hub: HubStandIn = self.server.hub  # type: ignore[attr-defined]
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        status, headers, body = hub.respond(self.command, self.path, token, self._read_body())
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """The request body, sent with a Content-Length or in chunks."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: requests are logged in HubStandIn.requests instead."""
