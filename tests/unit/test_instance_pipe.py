"""cove.instance_pipe: single instance over a named pipe (Windows).

Windows is not run here; the same code runs with multiprocessing.connection's AF_UNIX family,
which has the same Listener/Client interface, so everything but the pipe's name is tested.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Client
from pathlib import Path

import pytest

from cove import instance, instance_pipe
from cove.instance import ACKNOWLEDGED, InstanceUnavailable
from cove.instance_pipe import PipeInstance, activate_pipe, answer, claim_pipe

FAMILY = "AF_UNIX"  # the tests' stand-in for AF_PIPE


@pytest.fixture
def address(tmp_path: Path) -> str:
    return str(tmp_path / "cove.pipe")


@pytest.fixture
def primary(tmp_path: Path, address: str) -> Iterator[PipeInstance]:
    first = claim_pipe(tmp_path / "data", family=FAMILY, address=address)
    assert first is not None
    yield first
    first.close()


def test_the_pipe_is_named_after_the_store() -> None:
    name = instance_pipe.pipe_address(Path("C:/Users/ada/AppData/Local/Cove"))
    assert name.startswith("\\\\.\\pipe\\cove-") and len(name) < 256
    assert name == instance_pipe.pipe_address(Path("C:/Users/ada/AppData/Local/Cove"))
    assert name != instance_pipe.pipe_address(Path("C:/Users/bob/AppData/Local/Cove"))


def test_a_second_launch_brings_the_first_forward_with_its_token(
        tmp_path: Path, address: str, primary: PipeInstance,
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    primary.serve(asked.append)
    monkeypatch.setenv("XDG_ACTIVATION_TOKEN", "launch-42")
    assert claim_pipe(tmp_path / "data", family=FAMILY, address=address) is None
    assert asked == ["launch-42"]


def test_a_launch_that_sends_nothing_does_not_hold_up_the_next(
        address: str, primary: PipeInstance) -> None:
    asked: list[str] = []
    primary.serve(asked.append)
    with Client(address, family=FAMILY):  # connects and stays silent
        started = time.monotonic()
        assert activate_pipe(address, FAMILY, timeout_s=2.0)
        assert time.monotonic() - started < 1.5  # the silent one was given 0.2 s
    assert asked == [""]


def test_a_request_is_acknowledged_only_when_it_is_an_activation() -> None:
    ours, theirs = Pipe()
    theirs.send_bytes(b"activate tok-1\n")
    assert answer(ours) == "tok-1"
    assert theirs.recv_bytes() == ACKNOWLEDGED
    theirs.send_bytes(b"shutdown\n")
    assert answer(ours) is None
    assert not theirs.poll(0.1)  # nothing said back
    assert answer(ours, timeout_s=0.05) is None  # nothing sent at all
    theirs.send_bytes(b"activate " + b"x" * 1000 + b"\n")  # longer than a request
    assert answer(ours) is None


def test_close_stops_answering_and_lets_go_of_the_store(
        tmp_path: Path, address: str) -> None:
    first = claim_pipe(tmp_path / "data", family=FAMILY, address=address)
    assert first is not None
    first.serve(lambda token: None)
    threads = {t.name for t in threading.enumerate()}
    assert "cove-instance" in threads
    first.close()
    first.close()  # twice is harmless
    assert "cove-instance" not in {t.name for t in threading.enumerate()}
    assert not activate_pipe(address, FAMILY, timeout_s=0.3)
    second = claim_pipe(tmp_path / "data", family=FAMILY, address=address)
    assert second is not None  # the name is free again
    second.close()


def test_a_holder_that_never_answers_is_reported_not_waited_on_forever(
        tmp_path: Path, address: str, primary: PipeInstance) -> None:
    # `primary` holds the name but was never told to serve: it cannot answer.
    started = time.monotonic()
    with pytest.raises(InstanceUnavailable, match="does not answer"):
        claim_pipe(tmp_path / "data", family=FAMILY, address=address, wait_s=0.5)
    assert time.monotonic() - started < 10


def test_claim_uses_the_named_pipe_on_windows(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_claim_pipe(data_folder: Path, **_options: object) -> None:
        calls.append(data_folder)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(instance_pipe, "claim_pipe", fake_claim_pipe)
    assert instance.claim(tmp_path / "data") is None
    assert calls == [tmp_path / "data"]

    def broken(data_folder: Path, **_options: object) -> None:
        raise OSError("the pipe system said no")

    monkeypatch.setattr(instance_pipe, "claim_pipe", broken)
    with pytest.raises(InstanceUnavailable, match="said no"):  # Cove starts without it
        instance.claim(tmp_path / "data")
