"""The recovery key in the window: made and confirmed at first setup, used when the keyring item
is lost or the passphrase forgotten (then a new key source is chosen), made anew (revoking the
old one) and removed from Privacy & Security. A real encrypted file; a fake model."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from cove.core.conversation import Message, Role
from cove.storage.crypto import KdfParams
from cove.storage.keys import KeySource
from cove.storage.recovery import RecoveryKey, WrongRecoveryKey, new_recovery_key
from cove.storage.store import ConversationStore
from cove.ui.history.recovery_dialog import FILE_WARNING, RecoveryKeyDialog
from cove.ui.history.session import HistoryState
from tests.apphelpers import PASSPHRASE, Opened, Opener, set_up_with_passphrase, sidebar_titles
from tests.keyrings import MemoryKeyring, using_keyring


def history_with_recovery_key(path: Path, keyring: bool) -> RecoveryKey:
    key = new_recovery_key()
    with ConversationStore.open(path) as store:
        if keyring:
            store.setup_with_keyring()
        else:
            store.setup_with_passphrase("long forgotten words", KdfParams.at_floor())
        store.set_recovery_key(key)
        conversation = store.create_conversation("Worth keeping")
        store.append_message(conversation, Message(Role.USER, "hello"))
    return key


def recover(qtbot: QtBot, app: Opened, text: str) -> None:
    page = app.window.unlock_page
    page.recovery.clear()
    qtbot.keyClicks(page.recovery, text)
    page.primary.click()


def choose_passphrase(qtbot: QtBot, app: Opened) -> None:
    page = app.window.unlock_page
    assert page.title.text() == "Choose how Cove opens your history"
    if page.passphrase_choice.isVisible():
        page.passphrase_choice.setChecked(True)
    qtbot.keyClicks(page.passphrase, PASSPHRASE)
    qtbot.keyClicks(page.confirm, PASSPHRASE)
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda s, _m: s == HistoryState.UNLOCKED):
        page.primary.click()


def first_setup(qtbot: QtBot, open_app: Opener) -> tuple[Opened, RecoveryKeyDialog]:
    """A new history set up with a passphrase, and the recovery key dialog that follows."""
    app = open_app()
    with qtbot.waitSignal(app.session.sig_offer_recovery_key, timeout=10_000):
        set_up_with_passphrase(qtbot, app)
    dialog = app.presenter.recovery.dialog
    assert dialog is not None
    return app, dialog


def confirm(qtbot: QtBot, dialog: RecoveryKeyDialog) -> None:
    """What a person does: Next, then the two groups asked for, then Done."""
    dialog.next_button.click()
    for number, field in zip(dialog.asked, dialog.answers, strict=True):
        field.clear()
        qtbot.keyClicks(field, dialog.key.groups[number].lower())
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.next_button.click()


def test_keyring_item_lost_then_recovery_key_then_a_passphrase(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        key = history_with_recovery_key(path, keyring=True)
        backend.secrets.clear()
        app = open_app(wait_for=HistoryState.KEY_LOST)
        page = app.window.unlock_page
        assert "If you kept your recovery key, type it below" in page.text.text()
        assert page.recovery.isVisible() and page.primary.text() == "Unlock with Recovery Key"
        with qtbot.waitSignal(app.session.sig_recovery_failed, timeout=10_000) as refused:
            recover(qtbot, app, new_recovery_key().text)
        assert page.error.text().startswith("That recovery key does not open this history.")
        assert refused.args[0] == page.error.text()
        with qtbot.waitSignal(app.session.sig_recovery_failed, timeout=10_000):
            recover(qtbot, app, key.text[:-1])
        assert "typo" in page.error.text() or "groups" in page.error.text()
        with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                              check_params_cb=lambda s, _m: s == HistoryState.RECOVERED):
            recover(qtbot, app, " ".join(key.groups).lower())
        choose_passphrase(qtbot, app)
        assert sidebar_titles(app) == ["Worth keeping"]
        assert app.presenter.recovery.dialog is None  # not a first setup: nothing offered
        app.window.close()
    with ConversationStore.open(path) as store:
        assert store.key_source is KeySource.PASSPHRASE
        store.unlock_with_passphrase(PASSPHRASE)
        assert store.list_conversations()[0].title == "Worth keeping"


def test_a_forgotten_passphrase_then_the_keyring_from_now_on(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    key = history_with_recovery_key(path, keyring=False)
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        app = open_app(wait_for=HistoryState.LOCKED)
        page = app.window.unlock_page
        assert page.recover_button.isVisible()
        page.recover_button.click()
        assert page.title.text() == "Unlock with your recovery key"
        page.secondary.click()  # Back
        assert page.title.text() == "Cove is locked" and page.passphrase.isVisible()
        page.recover_button.click()
        with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                              check_params_cb=lambda s, _m: s == HistoryState.RECOVERED):
            recover(qtbot, app, key.text)
        assert page.keyring_choice.isVisible() and page.keyring_choice.isChecked()
        with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                              check_params_cb=lambda s, _m: s == HistoryState.UNLOCKED):
            page.primary.click()
        app.window.close()
        assert len(backend.secrets) == 1
        with ConversationStore.open(path) as store:
            store.unlock_with_keyring()
            assert store.list_conversations()[0].title == "Worth keeping"


def test_first_setup_offers_a_recovery_key_confirmed_by_two_groups(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app, dialog = first_setup(qtbot, open_app)
    assert dialog.isVisible()
    assert dialog.key_label.text() == dialog.key.text
    assert dialog.later_button.text() == "Not Now"
    dialog.next_button.click()
    wrong = [group for n, group in enumerate(dialog.key.groups) if n not in dialog.asked]
    for field, text in zip(dialog.answers, wrong, strict=False):
        qtbot.keyClicks(field, text)
    dialog.next_button.click()
    assert "does not match" in dialog.error.text() and dialog.isVisible()
    assert not app.session.has_recovery_key
    confirm(qtbot, dialog)
    assert app.session.has_recovery_key
    key = dialog.key
    app.window.close()
    with ConversationStore.open(tmp_path / "cove.db") as store:
        store.unlock_with_recovery_key(key.text)


def test_not_now_keeps_no_recovery_key(qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app, dialog = first_setup(qtbot, open_app)
    dialog.later_button.click()
    app.window.close()
    with ConversationStore.open(tmp_path / "cove.db") as store:
        assert not store.has_recovery_key()


def test_settings_make_a_new_key_revokes_the_old_one_then_remove_it(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app, first = first_setup(qtbot, open_app)
    confirm(qtbot, first)
    settings = app.settings.open()
    qtbot.addWidget(settings)
    page = app.presenter.security_page
    assert page is not None
    assert "has a recovery key" in page.recovery_label.text()
    assert page.recovery_button.text() == "Make a New Recovery Key…"
    page.recovery_button.click()
    second = app.presenter.recovery.dialog
    assert second is not None and second is not first and second.key != first.key
    confirm(qtbot, second)
    with ConversationStore.open(tmp_path / "cove.db") as store:
        with pytest.raises(WrongRecoveryKey):
            store.unlock_with_recovery_key(first.key.text)
        store.unlock_with_recovery_key(second.key.text)
    assert page.remove_recovery_button.isVisible()
    with qtbot.waitSignal(app.session.sig_recovery_key_changed, timeout=10_000):
        page.remove_confirmed()
    assert "has no recovery key" in page.recovery_label.text()
    assert not page.remove_recovery_button.isVisible()
    with ConversationStore.open(tmp_path / "cove.db") as store:
        assert not store.has_recovery_key()


def test_the_key_can_be_copied_or_saved_to_a_private_file(
        qtbot: QtBot, tmp_path: Path) -> None:
    key = new_recovery_key()
    dialog = RecoveryKeyDialog(key, lambda _k, _done, _failed: None, first_setup=False)
    qtbot.addWidget(dialog)
    dialog.copy()
    assert QGuiApplication.clipboard().text() == key.text
    target = tmp_path / "recovery.txt"
    target.write_text("an older file, readable by all")
    os.chmod(target, 0o644)
    dialog.save_to(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert key.text in text and "Anyone who has it can read" in text
    assert FILE_WARNING in dialog.status.text()
    dialog.save_to(tmp_path / "no such folder" / "key.txt")
    assert "could not be saved" in dialog.status.text()
