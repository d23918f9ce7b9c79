"""A loopback stand-in for the Hugging Face Hub, and a tiny GGUF writer for the files it serves.

The server speaks what huggingface_hub 2.x and Cove's downloader use: HEAD and GET of
/{repo}/resolve/{revision}/{filename} with X-Repo-Commit, ETag/X-Linked-Etag (the SHA-256),
X-Linked-Size and Content-Length, byte ranges (206/416), and optionally a redirect to a
"/cdn/" address the way the real hub sends large files to its CDN. It listens on 127.0.0.1 on
an ephemeral port, in a daemon thread; every socket has a timeout and the server answers at
most `max_requests` requests, so no test can hang on it.
"""

from __future__ import annotations

import hashlib
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

_RESOLVE_RE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class HubFile:
    content: bytes
    sha256: str  # what the server publishes, which a test may make wrong
    size: int  # what X-Linked-Size says, which a test may make huge
    commit: str


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    range: str | None


@dataclass
class HubServer:
    """Serve files under a fake hub at http://127.0.0.1:PORT; use as a context manager."""

    chunk_size: int = 64 * 1024
    delay: float = 0.0  # seconds between body chunks, to make a download slow enough to cancel
    redirect: bool = False  # send resolve requests to /cdn/<sha256> as the real hub does
    max_requests: int = 200
    socket_timeout: float = 5.0
    drop_after: int | None = None  # cut the next body after this many bytes (once)
    requests: list[SeenRequest] = field(default_factory=list)
    files: dict[tuple[str, str, str], HubFile] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(
        self,
        repo_id: str,
        filename: str,
        content: bytes,
        *,
        revision: str = "main",
        published_sha256: str | None = None,
        published_size: int | None = None,
        commit: str = "c0ffee" * 6 + "beef",
    ) -> HubFile:
        served = HubFile(
            content=content,
            sha256=published_sha256 or hashlib.sha256(content).hexdigest(),
            size=published_size if published_size is not None else len(content),
            commit=commit,
        )
        self.files[(repo_id, revision, filename)] = served
        return served

    def seen(self, method: str | None = None) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> HubServer:
        hub = self

        class Handler(_Handler):
            server_hub = hub
            timeout = hub.socket_timeout

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------

    def record(self, method: str, path: str, range_header: str | None) -> bool:
        with self._lock:
            self.requests.append(SeenRequest(method, path, range_header))
            return len(self.requests) <= self.max_requests

    def take_drop(self) -> int | None:
        with self._lock:
            drop, self.drop_after = self.drop_after, None
            return drop

    def lookup(self, path: str) -> HubFile | None:
        if path.startswith("/cdn/"):
            sha = path.removeprefix("/cdn/")
            return next((f for f in self.files.values() if f.sha256 == sha), None)
        match = _RESOLVE_RE.match(path)
        if not match:
            return None
        key = (match["repo"], unquote(match["revision"]), unquote(match["filename"]))
        return self.files.get(key)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: HubServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_HEAD(self) -> None:
        self.answer(head=True)

    def do_GET(self) -> None:
        self.answer(head=False)

    def answer(self, *, head: bool) -> None:
        hub = self.server_hub
        path = urlsplit(self.path).path
        if not hub.record(self.command, path, self.headers.get("Range")):
            self.send_error_response(503, "too many requests for a test")
            return
        served = hub.lookup(path)
        if served is None:
            self.send_error_response(404, "entry not found", error_code="EntryNotFound")
            return
        if hub.redirect and not path.startswith("/cdn/"):
            self.send_response(302)
            self.hub_headers(served)
            self.send_header("Location", f"{hub.url}/cdn/{served.sha256}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = len(served.content)
        start, end = 0, size
        status = 200
        range_header = self.headers.get("Range")
        if range_header and not head:
            match = _RANGE_RE.match(range_header.strip())
            if not match or int(match.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1, size) if match.group(2) else size
            status = 206
        self.send_response(status)
        self.hub_headers(served)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if head:
            return
        self.send_body(served.content, start, end)

    def hub_headers(self, served: HubFile) -> None:
        self.send_header("X-Repo-Commit", served.commit)
        self.send_header("ETag", f'"{served.sha256}"')
        self.send_header("X-Linked-Etag", f'"{served.sha256}"')
        self.send_header("X-Linked-Size", str(served.size))

    def send_body(self, content: bytes, start: int, end: int) -> None:
        hub = self.server_hub
        drop = hub.take_drop()
        sent = 0
        position = start
        try:
            while position < end and not hub._stopping.is_set():
                step = min(hub.chunk_size, end - position)
                if drop is not None and sent + step > drop:
                    step = drop - sent
                    if step > 0:
                        self.wfile.write(content[position : position + step])
                    self.wfile.flush()
                    # A cut connection: the promised Content-Length is never reached.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(content[position : position + step])
                position += step
                sent += step
                if hub.delay:
                    time.sleep(hub.delay)
        except OSError:
            self.close_connection = True  # the client went away (a cancelled download)

    def send_error_response(self, status: int, message: str, error_code: str = "") -> None:
        body = message.encode()
        self.send_response(status)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# -- a tiny GGUF writer --------------------------------------------------------------------
#
# Writes real (if useless) GGUF v3 files, so served and imported test files pass the same
# header checks real models do, and so hostile variants can be built field by field.

GGUF_UINT32 = 4
GGUF_STRING = 8
GGUF_ARRAY = 9
GGUF_UINT64 = 10
GGML_F32 = 0


def gguf_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_string(key: str, value: str) -> bytes:
    return gguf_string(key) + struct.pack("<I", GGUF_STRING) + gguf_string(value)


def kv_u32(key: str, value: int) -> bytes:
    return gguf_string(key) + struct.pack("<II", GGUF_UINT32, value)


def tensor_info(name: str, shape: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return (
        gguf_string(name)
        + struct.pack("<I", len(shape))
        + b"".join(struct.pack("<Q", dim) for dim in shape)
        + struct.pack("<IQ", ggml_type, offset)
    )


def make_gguf(
    *,
    architecture: str = "llama",
    name: str = "Test Model",
    context_length: int = 2048,
    chat_template: str | None = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    file_type: int | None = 0,
    extra_kv: list[bytes] | None = None,
    tensors: list[tuple[str, tuple[int, ...]]] | None = None,
    fill: bytes = b"\0",
    key_count: int | None = None,
    tensor_count: int | None = None,
    version: int = 3,
) -> bytes:
    """A valid GGUF file (F32 tensors, 32-byte alignment); the overrides make it invalid."""
    kvs = [
        kv_string("general.architecture", architecture),
        kv_string("general.name", name),
        kv_u32(f"{architecture}.context_length", context_length),
    ]
    if file_type is not None:
        kvs.append(kv_u32("general.file_type", file_type))
    if chat_template is not None:
        kvs.append(kv_string("tokenizer.chat_template", chat_template))
    kvs.extend(extra_kv or [])
    tensors = tensors if tensors is not None else [("token_embd.weight", (64, 16))]
    infos = []
    data = b""
    for tensor_name, shape in tensors:
        nbytes = 4
        for dim in shape:
            nbytes *= dim
        infos.append(tensor_info(tensor_name, shape, GGML_F32, len(data)))
        data += (fill * (nbytes // len(fill) + 1))[:nbytes]
        data += b"\0" * (-len(data) % 32)
    header = (
        b"GGUF"
        + struct.pack(
            "<IQQ",
            version,
            len(tensors) if tensor_count is None else tensor_count,
            len(kvs) if key_count is None else key_count,
        )
        + b"".join(kvs)
        + b"".join(infos)
    )
    header += b"\0" * (-len(header) % 32)
    return header + data


@contextmanager
def serving(monkeypatch: Any, repo: str, filename: str, content: bytes) -> Iterator[HubServer]:
    """A loopback hub serving one file, with HF_ENDPOINT pointing at it for the test.

    The downloader reads HF_ENDPOINT at call time, as the app's users would set it.
    """
    with HubServer() as server:
        server.add(repo, filename, content)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server
