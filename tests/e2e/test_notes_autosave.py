"""Autosave against SIGKILL: a note typed into the real window, killed mid-typing, loses at most
a second of typing; and a canary typed into a note is never on disk in plaintext."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cove.storage.store import ConversationStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")

PASSPHRASE = "a passphrase for the autosave test"
ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_while_typing_loses_at_most_a_second(tmp_path: Path) -> None:
    store_path = tmp_path / "cove.db"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE=PASSPHRASE,
               COVE_HOME=str(tmp_path / "home"))
    child = subprocess.Popen([sys.executable, "-m", "tests.e2e.notes_typist", str(store_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env)
    keys: list[tuple[int, float]] = []
    note_id = ""
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            if line.startswith("note "):
                note_id = line.split()[1]
            elif line.startswith("typed "):
                _, count, at = line.split()
                keys.append((int(count), float(at)))
                if len(keys) >= 120:  # over two seconds of typing, then kill it mid-stream
                    break
        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert note_id and len(keys) >= 120, child.stderr.read() if child.stderr else ""
    assert child.returncode == -signal.SIGKILL
    with ConversationStore.open(store_path) as store:
        store.unlock_with_passphrase(PASSPHRASE)
        saved = store.notes.load_note(note_id).text
    assert set(saved) <= {"a"}
    # Every key typed more than a second before the kill is in the store.
    due = max((count for count, at in keys if at <= killed_at - 1.0), default=0)
    assert due > 30
    assert len(saved) >= due, (len(saved), due, keys[-1][0])
