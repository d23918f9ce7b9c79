"""One Cove per store: a second launch asks the running one, over a local socket, to come forward.

A local socket only, never QtNetwork: QLocalServer lives in QtNetwork, which the offline
promise keeps out of the process, so this is a small AF_UNIX helper beside the network guard
(which lets AF_UNIX through and refuses AF_INET/AF_INET6). Ownership is an exclusive `flock`
on a lock file that the running Cove holds for its whole life: the kernel drops it when the
process dies however it dies, so a crash leaves no stale claim, and two Coves starting at the
same moment cannot both win. The socket and the lock live in a folder only this user can
enter, named after the data folder, so Coves on different stores (COVE_HOME) run side by side.

A launch passes on the token its desktop gave it for raising a window (Wayland's
XDG_ACTIVATION_TOKEN, X11's DESKTOP_STARTUP_ID): a Wayland compositor lets a window take the
focus only with such a token, and the running Cove's own is long spent.

Qt-free: ui/single_instance.py watches the listening socket with a QSocketNotifier.
Windows has neither AF_UNIX sockets in Python nor flock: instance_pipe.py does the same there
over a named pipe.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cove.instance_pipe import PipeInstance

log = logging.getLogger(__name__)

ACTIVATE = b"activate"
ACKNOWLEDGED = b"ok\n"
RUNTIME_DIR_ENV = "XDG_RUNTIME_DIR"
# Where a launcher puts the token for raising a window: Wayland's xdg-activation first.
TOKEN_ENVS = ("XDG_ACTIVATION_TOKEN", "DESKTOP_STARTUP_ID")
MAX_TOKEN = 400  # tokens are short; a longer one is not a token
MAX_REQUEST = len(ACTIVATE) + 1 + MAX_TOKEN + 1


class InstanceUnavailable(Exception):
    """Single-instance could not be set up (no private folder, a socket error); the message
    says why. Cove then simply starts without it."""


def runtime_folder() -> Path:
    """A folder only this user can enter: $XDG_RUNTIME_DIR, else a private one under /tmp."""
    runtime = os.environ.get(RUNTIME_DIR_ENV)
    if runtime and Path(runtime).is_dir():
        return Path(runtime)
    folder = Path(tempfile.gettempdir()) / f"cove-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.lstat()
    except OSError as error:
        raise InstanceUnavailable(f"cannot make {folder}: {error.strerror}") from None
    if (not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid()
            or status.st_mode & 0o077):
        raise InstanceUnavailable(f"{folder} is not a folder private to this user")
    return folder


def instance_name(data_folder: Path) -> str:
    """Short (a socket path has ~100 bytes) and the same for every spelling of the folder."""
    digest = hashlib.sha256(str(data_folder.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"cove-{digest}"


class PrimaryInstance:
    """This process is the one Cove on its store: it holds the lock and listens.

    `accept_activation()` is called when the socket is readable; `close()` at exit.
    """

    def __init__(self, lock_fd: int, server: socket.socket, socket_path: Path) -> None:
        self._lock_fd = lock_fd
        self.server = server
        self.socket_path = socket_path
        self.last_token = ""  # the activation token the last accepted launch passed on

    def fileno(self) -> int:
        return self.server.fileno()

    def accept_activation(self, timeout_s: float = 0.2) -> bool:
        """Answer one waiting launch; True when it asked this Cove to come forward.

        The listening socket is non-blocking; the launch writes its request right after
        connecting, so reading it waits at most `timeout_s` (a stuck peer cannot hang the
        window longer than that)."""
        try:
            peer, _ = self.server.accept()
        except (BlockingIOError, InterruptedError):
            return False
        with peer:
            peer.settimeout(timeout_s)
            try:
                token = parse_request(_read_line(peer, MAX_REQUEST))
                if token is None:
                    return False
                peer.sendall(ACKNOWLEDGED)
            except OSError:
                return False
        self.last_token = token
        return True

    def close(self) -> None:
        """Stop listening and let go of the store; only once (the descriptor's number could
        be another file's by a second call)."""
        if self._lock_fd < 0:
            return
        with contextlib.suppress(OSError):
            self.server.close()
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)  # releases the flock
        self._lock_fd = -1


def launch_token(environ: Mapping[str, str] | None = None) -> str:
    """The token this launch's desktop gave it for raising a window, or ""."""
    for name in TOKEN_ENVS:
        token = (os.environ if environ is None else environ).get(name, "")
        if valid_token(token):
            return token
    return ""


def valid_token(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN and token.isascii() and token.isprintable() \
        and " " not in token


def request_line(token: str = "") -> bytes:
    """A launch's activation request, with its token when it is a valid one."""
    return ACTIVATE + (b" " + token.encode("ascii") if valid_token(token) else b"") + b"\n"


def parse_request(line: bytes) -> str | None:
    """The token of an activation request ("" when it brought none); None when the line
    is not an activation request."""
    if not line.endswith(b"\n"):
        return None
    words = line[:-1].split(b" ")
    if words[0] != ACTIVATE or len(words) > 2:
        return None
    token = words[1].decode("ascii", "replace") if len(words) == 2 else ""
    return token if token == "" or valid_token(token) else None


def claim(data_folder: Path, *, folder: Path | None = None,
          wait_s: float = 3.0) -> PrimaryInstance | PipeInstance | None:
    """Become the one Cove on `data_folder`'s store, or bring the running one forward.

    Returns a PrimaryInstance (on Windows a PipeInstance) to keep for the process's life, or
    None when another Cove holds the store and was asked to come forward. Raises
    InstanceUnavailable when neither works.
    """
    if sys.platform == "win32":  # no AF_UNIX or flock there: a named pipe
        from cove.instance_pipe import claim_pipe

        try:
            return claim_pipe(data_folder, wait_s=wait_s)
        except (OSError, ValueError) as error:  # unforeseen: Cove starts without it
            raise InstanceUnavailable(f"no named pipe: {error}") from None
    folder = folder or runtime_folder()
    name = instance_name(data_folder)
    socket_path = folder / f"{name}.sock"
    lock_path = folder / f"{name}.lock"
    try:
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise InstanceUnavailable(f"cannot open {lock_path}: {error.strerror}") from None
    import fcntl

    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(lock_fd)
                raise InstanceUnavailable(f"cannot lock {lock_path}: {error.strerror}") from None
        else:
            return _listen(lock_fd, socket_path)
        # Another Cove holds the store. It may still be starting (the lock comes before the
        # socket), or just quitting (the lock goes last): ask until it answers or lets go.
        if activate(socket_path, token=launch_token()):
            os.close(lock_fd)
            return None
        if time.monotonic() > deadline:
            os.close(lock_fd)
            raise InstanceUnavailable("another Cove holds this store but does not answer")
        time.sleep(0.05)


def _listen(lock_fd: int, socket_path: Path) -> PrimaryInstance:
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # left by a Cove that died: the lock says nobody listens
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(socket_path))
        os.chmod(socket_path, 0o600)
        server.listen(4)
        server.setblocking(False)
    except OSError as error:
        server.close()
        os.close(lock_fd)
        raise InstanceUnavailable(f"cannot listen on {socket_path}: {error.strerror}") from None
    return PrimaryInstance(lock_fd, server, socket_path)


def activate(socket_path: Path, timeout_s: float = 2.0, token: str = "") -> bool:
    """Ask the Cove listening on `socket_path` to bring its window forward, passing on
    `token` (launch_token()); True when it said it would."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout_s)
    with client:
        try:
            client.connect(str(socket_path))
            client.sendall(request_line(token))
            return _read_line(client) == ACKNOWLEDGED
        except OSError:
            return False


def _read_line(peer: socket.socket, limit: int = 64) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = peer.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data
