"""A writer killed at random moments never corrupts the file or loses a returned append."""

from __future__ import annotations

import faulthandler
import os
import random
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from cove.core.conversation import Message, Role
from cove.storage.codecs import DamagedMessage
from cove.storage.store import ConversationStore
from tests.unit.storage import MemoryKeyring, using_keyring

KILLS = 200
NUMBERS_PER_CHILD = 1_000_000  # each child numbers its messages from its own range


def append_forever(path: Path, conversation: str, first_number: int, report_fd: int) -> None:
    """The child: append numbered messages and report each number once append returned."""
    status = 3
    from cove.privacy.core_dumps import no_core_dumps

    no_core_dumps()  # as Cove does
    try:
        store = ConversationStore.open(path)
        store.unlock_with_keyring(timeout_s=5)
        number = first_number
        while True:
            store.append_message(conversation, Message(Role.USER, f"numbered {number}"))
            os.write(report_fd, f"{number}\n".encode())
            number += 1
    except BaseException:
        status = 4  # the parent fails the test: a child must only ever die by the signal
    finally:
        os._exit(status)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_first_report(fd: int, timeout_s: float = 10.0) -> bytes:
    """What the writer reported up to its first returned append (or up to its end)."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready or not (chunk := os.read(fd, 65536)):
            break
        data += chunk
    return data


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to restart the writer cheaply")
@pytest.mark.parametrize("kill_with", [signal.SIGKILL, signal.SIGILL], ids=["SIGKILL", "SIGILL"])
def test_killed_writers_leave_a_sound_file_with_every_returned_message(
        tmp_path: Path, kill_with: signal.Signals) -> None:
    """SIGKILL is the OOM killer; SIGILL is llama.cpp faulting on a CPU feature."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()):
        with ConversationStore.open(path) as store:
            store.setup_with_keyring()
            conversation = store.create_conversation("Crash drill")

        confirmed: set[int] = set()
        started = time.perf_counter()
        # pytest turns faulthandler on; a forked writer would print a traceback at each
        # SIGILL before it dies, so it is off while the writers run.
        faulthandler_was_on = faulthandler.is_enabled()
        faulthandler.disable()
        try:
            for kill in range(KILLS):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child, a copy of this process with the keyring already set
                    os.close(read_fd)
                    append_forever(path, conversation, kill * NUMBERS_PER_CHILD, write_fd)
                os.close(write_fd)
                # Half the kills land at any moment from the start (opening, unlocking,
                # appending); the other half once appends are under way, so every run tests
                # returned appends however slow the machine is today.
                early = read_first_report(read_fd) if kill % 2 else b""
                time.sleep(rng.uniform(0.0, 0.05))
                os.kill(pid, kill_with)
                _, status = os.waitpid(pid, 0)
                reported = early + read_all(read_fd)
                os.close(read_fd)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == kill_with, (
                    f"writer {kill} ended on its own (status {status}, seed {seed})")
                # A line without its newline was cut by the kill after the append returned; the
                # number is durable but unconfirmed, so it is simply not checked.
                complete = reported[: reported.rfind(b"\n") + 1]
                confirmed.update(int(line) for line in complete.split())
        finally:
            if faulthandler_was_on:
                faulthandler.enable(file=sys.__stderr__)
        elapsed = time.perf_counter() - started

        with ConversationStore.open(path) as store:
            assert store.check_integrity()
            store.unlock_with_keyring()
            messages = store.load_messages(conversation)
            assert not [m for m in messages if isinstance(m, DamagedMessage)]
            stored = {int(m.text.split()[1]) for m in messages if isinstance(m, Message)}
            assert store.message_count(conversation) == len(messages)
    assert len(confirmed) >= KILLS // 2, f"too few appends returned (seed {seed})"
    assert confirmed <= stored, f"lost {sorted(confirmed - stored)[:5]} (seed {seed})"
    assert elapsed < 60
