"""`cove history` with a keyring that is locked, closed or has lost Cove's item: one line each,
with what to do next, never a class name."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.cli.history import run_history
from cove.core.conversation import Message, Role
from cove.paths import AppPaths, app_paths
from cove.storage.keys import LOCKED_PROMPT_TEXT
from cove.storage.store import ConversationStore, default_store_path
from tests.keyrings import PromptingKeyring, using_keyring


@pytest.fixture
def keyring_history(cove_home: Path) -> Iterator[tuple[AppPaths, PromptingKeyring]]:
    paths = app_paths().ensure()
    backend = PromptingKeyring(locked=False)
    with using_keyring(backend):
        with ConversationStore.open(default_store_path(paths)) as store:
            store.setup_with_keyring()
            conversation = store.create_conversation("Plans")
            store.append_message(conversation, Message(Role.USER, "hello"))
        yield paths, backend
    backend.unlock()


def list_history(paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = run_history(["list"], paths)
    return code, out.getvalue(), capsys.readouterr().err


def test_a_missing_item_is_one_line_that_points_to_the_recovery_key(
        keyring_history: tuple[AppPaths, PromptingKeyring], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    paths, backend = keyring_history
    backend.secrets.clear()
    code, out, err = list_history(paths, monkeypatch, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("cove: The key to this history is gone from the system keyring")
    assert "recovery key" in err


def test_a_closed_prompt_is_one_line_with_the_next_step(
        keyring_history: tuple[AppPaths, PromptingKeyring], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    paths, backend = keyring_history
    backend.locked = True
    backend.dismiss()
    code, _out, err = list_history(paths, monkeypatch, capsys)
    assert code == 1
    assert err == ("cove: Your keyring is still locked: its unlock prompt was closed. Unlock "
                   "the keyring, then try again.\n")


def test_a_locked_keyring_is_said_once_then_its_late_answer_is_used(
        keyring_history: tuple[AppPaths, PromptingKeyring], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    paths, backend = keyring_history
    backend.locked = True

    def person() -> None:
        assert backend.prompt_open.wait(10)
        time.sleep(2.0)  # past the moment Cove says the prompt is open
        backend.unlock()

    threading.Thread(target=person, daemon=True).start()
    code, out, err = list_history(paths, monkeypatch, capsys)
    assert code == 0, err
    assert err == f"cove: {LOCKED_PROMPT_TEXT}\n"
    assert out.endswith("\t1\tPlans\n")
