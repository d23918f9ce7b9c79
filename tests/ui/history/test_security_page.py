"""The Privacy & Security page of Settings: passphrase change, keyring switch, auto-lock,
offline mode, saved once on OK.

The Models page is tested in tests/ui/models/test_settings_page.py."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QPushButton
from pytestqt.qtbot import QtBot

from cove.storage.keys import LOCKED_PROMPT_TEXT, KeySource
from cove.storage.store import ConversationStore
from cove.ui.history.security_page import PassphraseDialog, SecurityPage
from cove.ui.settings.dialog import SettingsDialog
from tests.apphelpers import PASSPHRASE, Opened, Opener, chat, set_up_with_passphrase
from tests.keyrings import MemoryKeyring, PromptingKeyring, using_keyring


def security_page(app: Opened) -> SecurityPage:
    page = app.presenter.security_page
    assert page is not None, "opening Settings adds the page"
    return page


def ok(dialog) -> None:  # type: ignore[no-untyped-def]
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def test_change_passphrase_rewraps_and_old_one_stops_working(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "still readable after the change")
    dialog = app.settings.open()
    qtbot.addWidget(dialog)
    page = security_page(app)
    assert page.change_button.isVisible()
    change = PassphraseDialog("Change Passphrase", True, page._change_passphrase, dialog)
    qtbot.addWidget(change)
    qtbot.keyClicks(change.current, "wrong current passphrase")
    qtbot.keyClicks(change.new, "a brand new passphrase")
    qtbot.keyClicks(change.confirm, "a brand new passphrase")
    with qtbot.waitSignal(app.session.tasks._relay.sig_done, timeout=10_000):
        ok(change)
    qtbot.waitUntil(lambda: "not right" in change.error.text(), timeout=2_000)
    change.current.clear()
    qtbot.keyClicks(change.current, PASSPHRASE)
    with qtbot.waitSignal(change.accepted, timeout=10_000):
        ok(change)
    app.window.close()
    with ConversationStore.open(tmp_path / "cove.db") as store:
        store.unlock_with_passphrase("a brand new passphrase")
        assert store.list_conversations()[0].title == "still readable after the change"


def test_switch_to_keyring_and_back(qtbot: QtBot, open_app: Opener) -> None:
    with using_keyring(MemoryKeyring()):
        app = open_app()
        page = app.window.unlock_page
        page.passphrase_choice.setChecked(True)
        set_up_with_passphrase(qtbot, app)
        dialog = app.settings.open()
        qtbot.addWidget(dialog)
        page = security_page(app)
        assert page.switch_button.isVisible()
        with qtbot.waitSignal(app.session.tasks._relay.sig_done, timeout=10_000):
            page.switch_button.click()
        qtbot.waitUntil(lambda: page.key_source is KeySource.KEYRING, timeout=5_000)
        assert app.session.store.key_source is KeySource.KEYRING  # type: ignore[union-attr]
        assert "keyring" in page.key_label.text()


def settings_saved_to(qtbot: QtBot, app: Opened,
                      path: Path) -> tuple[SettingsDialog, SecurityPage]:
    """Unlocked, with settings.json at `path` and the Settings dialog open."""
    app.settings.path = path
    set_up_with_passphrase(qtbot, app)
    dialog = app.settings.open()
    qtbot.addWidget(dialog)
    return dialog, security_page(app)


def test_auto_lock_and_offline_settings_apply_and_persist(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    dialog, page = settings_saved_to(qtbot, app, tmp_path / "settings.json")
    assert dialog.titles()[0] == "Privacy & Security"
    page.auto_lock.setValue(15)
    page.offline.setChecked(True)
    ok(dialog)
    assert app.presenter._idle.isActive()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["auto_lock_minutes"] == 15
    assert saved["offline_mode"] is True


def test_lock_now_keeps_the_edits_then_locks(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    dialog, page = settings_saved_to(qtbot, app, tmp_path / "settings.json")
    page.auto_lock.setValue(7)
    lock_now = next(b for b in page.findChildren(QPushButton) if b.text() == "Lock Now")
    lock_now.click()
    assert not dialog.isVisible() and not app.session.unlocked
    assert json.loads((tmp_path / "settings.json").read_text())["auto_lock_minutes"] == 7


def test_switching_to_a_locked_keyring_waits_with_cancel_and_changes_nothing(
        qtbot: QtBot, open_app: Opener) -> None:
    backend = PromptingKeyring(locked=False)
    with using_keyring(backend):
        app = open_app()
        app.window.unlock_page.passphrase_choice.setChecked(True)
        set_up_with_passphrase(qtbot, app)
        app.session.keyring_timeout_s = None  # the window's own way: wait, with Cancel
        app.session.keyring_notice_s = 0.1
        backend.locked = True
        dialog = app.settings.open()
        qtbot.addWidget(dialog)
        page = security_page(app)
        page.switch_button.click()
        qtbot.waitUntil(lambda: page.key_label.text() == LOCKED_PROMPT_TEXT, timeout=5_000)
        assert page.cancel_wait_button.isVisible() and not page.switch_button.isEnabled()
        with qtbot.waitSignal(app.session.tasks._relay.sig_done, timeout=5_000):
            page.cancel_wait_button.click()
        qtbot.waitUntil(lambda: page.key_label.text() == (
            "Cove stopped waiting for the keyring; nothing was changed."), timeout=5_000)
        assert page.key_source is KeySource.PASSPHRASE
        assert app.session.store.key_source is KeySource.PASSPHRASE  # type: ignore[union-attr]
        assert not page.cancel_wait_button.isVisible() and page.switch_button.isEnabled()
        backend.unlock()  # the abandoned write lands, and is removed
        qtbot.waitUntil(lambda: backend.writes == 1 and not backend.secrets, timeout=5_000)
