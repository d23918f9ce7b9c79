"""The network guard, armed in this process: what it refuses, records and permits."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.models.download import (
    ChecksumMismatch,
    DownloadCancelled,
    NetworkError,
    download_model,
)
from cove.privacy.guard import NetworkBlocked, NetworkGuard, guard
from tests.hubserver import HubServer, serving
from tests.unit.models.test_download import CONTENT, FILE, REPO, entry


@pytest.fixture
def armed() -> Iterator[NetworkGuard]:
    network = guard().install()
    network.attempts.clear()
    yield network
    network.disarm()  # the hook stays (Python cannot remove it) but lets later tests be


def test_blocks_a_direct_connection_and_records_who_asked(armed: NetworkGuard) -> None:
    with pytest.raises(NetworkBlocked, match=r"192\.0\.2\.1:53"):
        socket.create_connection(("192.0.2.1", 53), timeout=2)
    attempt = armed.attempts[-1]
    assert attempt.event == "socket.connect"
    assert attempt.destination == "192.0.2.1:53"
    assert attempt.module == __name__


def test_blocks_dns_lookups(armed: NetworkGuard) -> None:
    with pytest.raises(NetworkBlocked, match=r"example\.com"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkBlocked):
        socket.gethostbyname("example.org")
    assert [a.event for a in armed.attempts] == ["socket.getaddrinfo",
                                                 "socket.gethostbyname"]


def test_blocks_urllib(armed: NetworkGuard) -> None:
    with pytest.raises((NetworkBlocked, urllib.error.URLError)) as raised:
        urllib.request.urlopen("http://example.com/", timeout=2)
    error = raised.value
    reason = getattr(error, "reason", error)
    assert isinstance(reason, NetworkBlocked)
    assert armed.attempts and armed.attempts[-1].destination == "example.com"


def test_blocks_asyncio_connections(armed: NetworkGuard) -> None:
    async def connect() -> None:
        await asyncio.open_connection("192.0.2.7", 80)

    with pytest.raises(NetworkBlocked):
        asyncio.run(connect())
    assert any(a.destination.startswith("192.0.2.7") for a in armed.attempts)


def test_unix_sockets_stay_allowed(armed: NetworkGuard, tmp_path: Path) -> None:
    path = str(tmp_path / "bus")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    connection, _ = server.accept()
    client.sendall(b"ping")
    assert connection.recv(4) == b"ping"
    for sock in (client, connection, server):
        sock.close()
    assert armed.attempts == []


def test_permission_is_for_one_host_on_one_thread_and_closes(armed: NetworkGuard) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with armed.permit("127.0.0.1"):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(NetworkBlocked):
            socket.getaddrinfo("example.com", 443)  # another host, same thread
        other: list[BaseException] = []

        def elsewhere() -> None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2)
            except BaseException as error:
                other.append(error)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert other and isinstance(other[0], NetworkBlocked)
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    listener.close()


def test_a_permission_reaches_only_what_its_host_resolved_to(armed: NetworkGuard) -> None:
    """A download's permission is for the hub's addresses, not for any address: a name it
    may look up opens the addresses that lookup returned on that thread, no others."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with armed.permit("localhost"):
        # The name resolves (to 127.0.0.1 among others): those addresses are reachable.
        socket.create_connection(("localhost", port), timeout=2).close()
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # Another address on the same machine was never what the hub's name resolved to.
        with pytest.raises(NetworkBlocked, match=r"127\.0\.0\.2"):
            socket.create_connection(("127.0.0.2", port), timeout=2)
    # A new permission starts with nothing resolved.
    with armed.permit("localhost"), pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    listener.close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    # Started before the guard is armed (the fixture order): binding looks up names.
    with serving(monkeypatch, REPO, FILE, CONTENT) as server:
        yield server


def assert_closed(network: NetworkGuard, hub: HubServer) -> None:
    assert network.permitted_hosts() == []
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", int(hub.url.rsplit(":", 1)[1])), timeout=2)


def test_download_permission_closes_after_success(hub: HubServer, armed: NetworkGuard,
                                                  tmp_path: Path) -> None:
    result = download_model(entry(), tmp_path / "models", permit=armed.permit)
    assert result.path.read_bytes() == CONTENT
    assert armed.allowed_connections > 0
    assert_closed(armed, hub)


def test_download_without_permission_is_blocked(hub: HubServer, armed: NetworkGuard,
                                                tmp_path: Path) -> None:
    with pytest.raises(NetworkError):
        download_model(entry(), tmp_path / "models", max_retries=0)
    assert armed.attempts[-1].module == "cove.models.download"
    assert not (tmp_path / "models" / FILE).exists()


def test_download_permission_closes_after_failure(hub: HubServer, armed: NetworkGuard,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatch):
        download_model(entry(sha256="0" * 64), tmp_path / "models", permit=armed.permit)
    assert_closed(armed, hub)


def test_download_permission_closes_after_cancel(hub: HubServer, armed: NetworkGuard,
                                                 tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        download_model(entry(), tmp_path / "models", permit=armed.permit, cancel=cancel)
    assert_closed(armed, hub)


def test_the_privacy_panel_counts_downloads_the_person_started() -> None:
    from cove.ui.settings.privacy_panel import network_summary

    network = NetworkGuard()
    network.installed = True
    assert network_summary(network) == "No connection opened since Cove started."
    network.note_download()  # a download that never reached the network (offline hub)
    assert network_summary(network) == (
        "1 model download you started.\nNo other connection was attempted.")
    network.note_download()
    network.allowed_connections = 3
    assert network_summary(network).startswith("2 model downloads you started (3 connection")
