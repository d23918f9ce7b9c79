"""The unlock page with a keyring that is locked, slow, or has lost Cove's item: each outcome in
words, a Cancel of Cove's own, a late answer picked up, the window responsive throughout.

The window runs a fake model (tests.apphelpers); the history is a real encrypted file and the
keyrings are fakes that behave like GNOME Keyring's prompts (tests.keyrings)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from cove.core.conversation import Message, Role
from cove.storage.keys import LOCKED_PROMPT_TEXT, KeySource
from cove.storage.store import ConversationStore
from cove.ui.history.session import HistorySession, HistoryState
from tests.apphelpers import Opened, Opener, sidebar_titles
from tests.keyrings import PromptingKeyring, using_keyring


@pytest.fixture(autouse=True)
def patient_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's own way of waiting: no limit, Cancel, and a prompt notice (made short)."""
    real_init = HistorySession.__init__

    def init(self: HistorySession, *args: Any, **kwargs: Any) -> None:
        kwargs.update(keyring_timeout_s=None, keyring_notice_s=0.1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(HistorySession, "__init__", init)


@pytest.fixture
def keyring() -> Iterator[PromptingKeyring]:
    backend = PromptingKeyring(locked=False)
    with using_keyring(backend):
        yield backend
    backend.unlock()  # let any thread still waiting on the prompt finish


def keyring_history(path: Path, backend: PromptingKeyring) -> None:
    """A history kept by the keyring, with one conversation; the keyring locked afterwards."""
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
        conversation = store.create_conversation("Behind the keyring")
        store.append_message(conversation, Message(Role.USER, "hello"))
    backend.locked = True


class Ticks:
    """Counts event-loop turns: a window that blocks stops counting."""

    def __init__(self) -> None:
        self.count = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(20)

    def _tick(self) -> None:
        self.count += 1


def wait_state(qtbot: QtBot, app: Opened, state: str,
               action: Callable[[], object]) -> str:
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda s, _m: s == state) as caught:
        action()
    return str(caught.args[1])


def test_a_locked_keyring_says_so_keeps_the_window_responsive_and_unlocks_by_itself(
        qtbot: QtBot, open_app: Opener, keyring: PromptingKeyring, tmp_path: Path) -> None:
    keyring_history(tmp_path / "cove.db", keyring)
    ticks = Ticks()
    app = open_app(wait_for=None)
    page = app.window.unlock_page
    qtbot.waitUntil(lambda: page.error.text() == LOCKED_PROMPT_TEXT, timeout=10_000)
    assert page.secondary.isVisible() and page.secondary.text() == "Cancel"
    before = ticks.count
    qtbot.wait(300)  # the prompt is open; Cove waits without blocking the window
    assert ticks.count - before >= 5
    wait_state(qtbot, app, HistoryState.UNLOCKED, keyring.unlock)  # the person answers
    assert sidebar_titles(app) == ["Behind the keyring"]


def test_coves_own_cancel_stops_waiting_then_unlock_tries_again(
        qtbot: QtBot, open_app: Opener, keyring: PromptingKeyring, tmp_path: Path) -> None:
    keyring_history(tmp_path / "cove.db", keyring)
    app = open_app(wait_for=None)
    page = app.window.unlock_page
    qtbot.waitUntil(lambda: page.secondary.text() == "Cancel" and page.secondary.isVisible(),
                    timeout=10_000)
    message = wait_state(qtbot, app, HistoryState.LOCKED, page.secondary.click)
    assert message == "Cove stopped waiting for the keyring; nothing was changed."
    assert page.error.text() == message
    assert page.primary.text() == "Unlock with Keyring" and page.primary.isEnabled()
    keyring.unlock()
    wait_state(qtbot, app, HistoryState.UNLOCKED, page.primary.click)


def test_a_closed_prompt_says_the_keyring_is_still_locked(
        qtbot: QtBot, open_app: Opener, keyring: PromptingKeyring, tmp_path: Path) -> None:
    keyring_history(tmp_path / "cove.db", keyring)
    app = open_app(wait_for=None)
    page = app.window.unlock_page
    qtbot.waitUntil(lambda: page.error.text() == LOCKED_PROMPT_TEXT, timeout=10_000)
    message = wait_state(qtbot, app, HistoryState.LOCKED, keyring.dismiss)
    assert message.startswith("Your keyring is still locked: its unlock prompt was closed.")
    assert "KeyringLocked" not in message


def test_a_missing_item_shows_the_key_is_gone_and_a_new_history_keeps_the_old_file(
        qtbot: QtBot, open_app: Opener, keyring: PromptingKeyring, tmp_path: Path) -> None:
    keyring_history(tmp_path / "cove.db", keyring)
    keyring.locked = False
    keyring.secrets.clear()  # `secret-tool clear service Cove`
    app = open_app(wait_for=HistoryState.KEY_LOST)
    page = app.window.unlock_page
    assert page.title.text() == "The key to this history is gone"
    assert "has no recovery key" in page.text.text()
    assert not page.recovery.isVisible()  # nothing to type: this history has none
    assert page.fresh_button.isVisible() and page.secondary.text() == "Quit"
    assert "try again" not in page.text.text().lower()  # no advice that can never work
    wait_state(qtbot, app, HistoryState.SETUP, page.fresh_button.click)
    [kept] = tmp_path.glob("cove.db.damaged-*")
    with ConversationStore.open(kept) as old:
        assert old.key_source is KeySource.KEYRING  # the old history, as it was
    assert "kept as" in app.window.banner.label.text()
    assert app.window.unlock_page.keyring_choice.isVisible()


def test_a_setup_write_cancelled_keeps_the_keyring_on_offer_and_a_late_secret_is_removed(
        qtbot: QtBot, open_app: Opener, keyring: PromptingKeyring) -> None:
    keyring.locked = True  # "Choose password for new keyring"
    app = open_app()
    page = app.window.unlock_page
    assert page.keyring_choice.isChecked()
    page.primary.click()
    qtbot.waitUntil(lambda: page.error.text() == LOCKED_PROMPT_TEXT, timeout=10_000)
    message = wait_state(qtbot, app, HistoryState.SETUP, page.secondary.click)
    assert "stopped waiting" in message and "choose a passphrase" in message
    assert page.keyring_choice.isVisible() and page.keyring_choice.isChecked()
    keyring.unlock()  # the abandoned write lands now
    qtbot.waitUntil(lambda: keyring.writes == 1 and not keyring.secrets, timeout=5_000)
    with qtbot.waitSignal(app.session.sig_offer_recovery_key, timeout=10_000):
        wait_state(qtbot, app, HistoryState.UNLOCKED, page.primary.click)
    assert len(keyring.secrets) == 1
    dialog = app.presenter.recovery.dialog
    assert dialog is not None and dialog.isVisible()  # first setup offers a recovery key
