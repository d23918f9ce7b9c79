"""cove.instance: one Cove per store, over AF_UNIX only, surviving a crashed owner."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.instance import (
    InstanceUnavailable,
    PrimaryInstance,
    activate,
    claim,
    instance_name,
    launch_token,
    parse_request,
)
from cove.privacy.guard import NetworkGuard, guard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return runtime


@pytest.fixture
def primary(tmp_path: Path, folder: Path) -> Iterator[PrimaryInstance]:
    first = claim(tmp_path / "data", folder=folder)
    assert first is not None
    yield first
    first.close()


def serve(instance: PrimaryInstance, answered: list[bool], stop: threading.Event) -> None:
    """The running Cove's side, as the window's QSocketNotifier would drive it."""
    while not stop.is_set():
        ready, _, _ = select.select([instance.fileno()], [], [], 0.05)
        if ready:
            answered.append(instance.accept_activation())


def answers(answered: list[bool], count: int = 1, timeout_s: float = 5.0) -> list[bool]:
    """What the serving thread answered, once it has answered `count` launches: a second
    launch returns as soon as it reads the running Cove's acknowledgement, which that Cove
    sends just before it notes the request (a loaded CI machine caught the gap once)."""
    deadline = time.monotonic() + timeout_s
    while len(answered) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return answered


@pytest.fixture
def serving(primary: PrimaryInstance) -> Iterator[list[bool]]:
    answered: list[bool] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(primary, answered, stop), daemon=True)
    thread.start()
    yield answered
    stop.set()
    thread.join(5)


def test_first_launch_owns_the_store_and_listens_privately(primary: PrimaryInstance) -> None:
    assert primary.socket_path.is_socket()
    assert primary.socket_path.stat().st_mode & 0o777 == 0o600
    assert len(str(primary.socket_path)) < 100  # sun_path's limit, whatever the data folder


def test_second_launch_brings_the_first_forward(tmp_path: Path, folder: Path,
                                                serving: list[bool]) -> None:
    assert claim(tmp_path / "data", folder=folder) is None
    assert answers(serving) == [True]


def test_a_launch_passes_on_the_token_its_desktop_gave_it(
        tmp_path: Path, folder: Path, primary: PrimaryInstance, serving: list[bool],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_ACTIVATION_TOKEN", "kwin-4f2a_9")
    monkeypatch.setenv("DESKTOP_STARTUP_ID", "x11-startup")
    assert claim(tmp_path / "data", folder=folder) is None
    assert answers(serving) == [True] and primary.last_token == "kwin-4f2a_9"  # Wayland's first
    monkeypatch.delenv("XDG_ACTIVATION_TOKEN")
    assert launch_token() == "x11-startup"
    monkeypatch.setenv("DESKTOP_STARTUP_ID", "has a space")
    assert launch_token() == ""  # not a token: the request goes without one


def test_only_activation_requests_with_sane_tokens_count() -> None:
    assert parse_request(b"activate\n") == ""
    assert parse_request(b"activate tok-1\n") == "tok-1"
    assert parse_request(b"activate tok-1") is None  # cut short
    assert parse_request(b"activate a b\n") is None
    assert parse_request(b"hello\n") is None
    assert parse_request(b"activate " + b"x" * 401 + b"\n") is None
    assert parse_request(b"activate \x1b[2J\n") is None


def test_another_store_gets_its_own_instance(tmp_path: Path, folder: Path,
                                             primary: PrimaryInstance) -> None:
    other = claim(tmp_path / "other-data", folder=folder)
    assert other is not None
    other.close()
    assert instance_name(tmp_path / "data") != instance_name(tmp_path / "other-data")
    assert instance_name(tmp_path / "data") == instance_name(tmp_path / "x" / ".." / "data")


def test_a_silent_owner_is_reported_not_waited_on_forever(tmp_path: Path, folder: Path,
                                                          primary: PrimaryInstance) -> None:
    # Nobody answers the socket (a hung Cove): claim gives up with a reason.
    with pytest.raises(InstanceUnavailable, match="does not answer"):
        claim(tmp_path / "data", folder=folder, wait_s=0.3)


def test_a_stranger_on_the_socket_is_not_an_activation(primary: PrimaryInstance) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.connect(str(primary.socket_path))
        peer.sendall(b"quit\n")
        select.select([primary.fileno()], [], [], 2)
        assert primary.accept_activation() is False


def test_a_killed_owner_leaves_no_stale_claim(tmp_path: Path, folder: Path) -> None:
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT / 'app')!r})\n"
            "from pathlib import Path\nfrom cove.instance import claim\n"
            f"held = claim(Path({str(tmp_path / 'data')!r}), folder=Path({str(folder)!r}))\n"
            "print('held' if held else 'none', flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert (folder / f"{instance_name(tmp_path / 'data')}.sock").exists()  # left behind
    second = claim(tmp_path / "data", folder=folder, wait_s=0.3)
    assert second is not None
    second.close()


def test_activate_without_a_cove_says_no(tmp_path: Path) -> None:
    assert activate(tmp_path / "nobody.sock", timeout_s=0.2) is False


def test_refuses_a_shared_temporary_folder(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cove import instance

    shared = tmp_path / f"cove-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(instance.tempfile, "gettempdir", lambda: str(tmp_path))
    with pytest.raises(InstanceUnavailable, match="not a folder private"):
        claim(tmp_path / "data")


_families: list[int] = []
_recording = threading.Event()


def _record_sockets(event: str, args: tuple[object, ...]) -> None:
    if _recording.is_set() and event == "socket.__new__":
        _families.append(int(args[1]))  # type: ignore[call-overload]


def test_uses_local_sockets_only_under_the_network_guard(tmp_path: Path, folder: Path,
                                                         serving: list[bool]) -> None:
    """The single-instance helper needs no network: the armed guard refuses nothing, and
    every socket it makes is AF_UNIX (never TCP or UDP, which QLocalServer would bring)."""
    network: NetworkGuard = guard().install()
    network.attempts.clear()
    sys.addaudithook(_record_sockets)
    _families.clear()
    _recording.set()
    try:
        assert claim(tmp_path / "data", folder=folder) is None
        other = claim(tmp_path / "more-data", folder=folder)
        assert other is not None
        other.close()
    finally:
        _recording.clear()
        network.disarm()
    assert network.attempts == []
    assert _families and set(_families) == {socket.AF_UNIX}
    assert "PySide6.QtNetwork" not in sys.modules
