"""The network guard: refuses every internet connection except a user-started model download.

Installed first thing at start-up as an audit hook (PEP 578), so it sees every connection
and name lookup Python makes, whatever library asks. AF_UNIX sockets stay allowed (the
keyring talks over D-Bus). The model downloader asks for a permission that covers one host
for the length of one network step; when the step ends, however it ends, the guard is armed
again. Native code (llama.cpp, Qt) bypasses Python entirely: the strace test covers it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

_INTERNET = {socket.AF_INET, socket.AF_INET6}
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
            "socket.gethostbyaddr", "socket.getnameinfo"}
_SENDS = {"socket.connect", "socket.sendto", "socket.sendmsg"}
# Frames from these modules are the machinery, not the code that asked for the connection.
_PLUMBING = ("socket", "ssl", "asyncio", "selectors", "concurrent", "threading", "http",
             "urllib", "urllib3", "httpx", "httpx2", "httpcore", "anyio", "h11", "h2",
             "requests", "huggingface_hub", "cove.privacy", "importlib", "contextlib",
             "encodings")


class NetworkBlocked(ConnectionRefusedError):
    """A connection Cove's promise forbids; the message says what asked and where to."""


@dataclass(frozen=True)
class Attempt:
    """One refused connection or lookup, for the privacy panel."""

    when: float
    module: str  # the first module outside the network plumbing that asked
    event: str  # e.g. "socket.connect"
    destination: str  # host or address, and port when known


class NetworkGuard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # thread id -> the hosts that thread may reach now (a download runs on one thread)
        self._permits: dict[int, list[str]] = {}
        # thread id -> the addresses those hosts resolved to on that thread: a permission
        # reaches them, no other address
        self._resolved: dict[int, set[str]] = {}
        self.attempts: list[Attempt] = []
        self.armed = False
        self.installed = False
        self.allowed_connections = 0  # made under a download permission
        self.downloads_started = 0  # model downloads the person started, reached or not

    def install(self) -> NetworkGuard:
        """Add the audit hook (once per process; Python cannot remove it) and arm it."""
        if not self.installed:
            sys.addaudithook(self._hook)
            _watch_lookups(self)
            self.installed = True
        self.armed = True
        return self

    def disarm(self) -> None:
        """For tests that need loopback servers after a guarded test; the app never does."""
        self.armed = False

    @contextlib.contextmanager
    def permit(self, host: str) -> Iterator[None]:
        """Let this thread reach `host` for the length of the block; no other thread."""
        host = _normal(host)
        thread = threading.get_ident()
        with self._lock:
            self._permits.setdefault(thread, []).append(host)
        log.info("network permission opened for a model download")
        try:
            yield
        finally:
            with self._lock:
                hosts = self._permits.get(thread, [])
                if host in hosts:
                    hosts.remove(host)
                if not hosts:
                    self._permits.pop(thread, None)
                    self._resolved.pop(thread, None)
            log.info("network permission closed")

    def note_download(self) -> None:
        """A person started a model download: counted for the privacy panel, whether or not
        it reaches the network."""
        with self._lock:
            self.downloads_started += 1

    def permitted_hosts(self) -> list[str]:
        with self._lock:
            return sorted({host for hosts in self._permits.values() for host in hosts})

    def _allowed(self, host: str) -> bool:
        """This thread holds a permission for `host` (a name it may look up)."""
        with self._lock:
            hosts = self._permits.get(threading.get_ident(), [])
        return _normal(host) in hosts

    def _reachable(self, address: str) -> bool:
        """This thread holds a permission, and `address` is a permitted host written as an
        address, or one a permitted name resolved to on this thread."""
        thread = threading.get_ident()
        with self._lock:
            hosts = self._permits.get(thread, [])
            resolved = self._resolved.get(thread, set())
        address = _normal(address)
        return bool(hosts) and (address in hosts or address in resolved)

    def _resolved_to(self, host: object, results: object) -> None:
        """Note the addresses a permitted name resolved to on this thread."""
        if not isinstance(host, str) or not self._allowed(host):
            return
        addresses = {_normal(str(item[4][0])) for item in results  # type: ignore[attr-defined]
                     if isinstance(item, tuple) and len(item) > 4 and item[4]}
        with self._lock:
            self._resolved.setdefault(threading.get_ident(), set()).update(addresses)

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.armed or not event.startswith("socket."):
            return
        if event in _LOOKUPS:
            host = str(args[0]) if args else ""
            # A numeric address asks no name server; its connect is checked below.
            if host and not _is_address(host) and not self._allowed(host):
                self._refuse(event, host)
        elif event in _SENDS:
            sock, address = args[0], args[1] if len(args) > 1 else None
            family = getattr(sock, "family", None)
            if family not in _INTERNET or address is None:
                return
            host, port = _split(address)
            if self._reachable(host):
                self.allowed_connections += event == "socket.connect"
                return
            self._refuse(event, f"{host}:{port}" if port is not None else host)

    def _refuse(self, event: str, destination: str) -> None:
        module = _asker()
        attempt = Attempt(time.time(), module, event, destination)
        with self._lock:
            self.attempts.append(attempt)
        log.warning("blocked %s to %s from %s", event, destination, module)
        raise NetworkBlocked(
            f"Cove blocked a network connection to {destination} (asked by {module}). Cove "
            "opens no connections except a model download you start yourself."
        )


def _normal(host: str) -> str:
    return host.strip().strip("[]").lower()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(_normal(host))
    except ValueError:
        return False
    return True


def _split(address: object) -> tuple[str, int | None]:
    if isinstance(address, tuple) and address:
        port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
        return str(address[0]), port
    return str(address), None


def _asker() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", "?"))
        if not module.startswith(_PLUMBING):
            return module
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _watch_lookups(guard: NetworkGuard) -> None:
    """Wrap socket.getaddrinfo (which every connection by name goes through, including
    socket.create_connection's) so the guard learns what a permitted name resolved to: an
    audit hook sees a lookup's question, never its answer."""
    original = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        results = original(host, *args, **kwargs)  # type: ignore[arg-type]
        guard._resolved_to(host, results)
        return results

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


_GUARD = NetworkGuard()


def guard() -> NetworkGuard:
    """The process's one guard (installed by the app at start-up, armed from then on)."""
    return _GUARD


def download_permit() -> object | None:
    """The permit hook for models.download when the guard is on, else None."""
    return _GUARD.permit if _GUARD.installed and _GUARD.armed else None
