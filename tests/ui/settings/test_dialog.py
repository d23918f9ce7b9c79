"""The settings dialog: passphrase change, keyring switch, auto-lock, offline mode.

Its Models page is tested in test_model_settings.py."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from cove.storage.keys import KeySource
from cove.storage.store import ConversationStore
from cove.ui.settings.dialog import PassphraseDialog
from tests.apphelpers import PASSPHRASE, Opener, chat, set_up_with_passphrase
from tests.keyrings import MemoryKeyring, using_keyring


def ok(dialog) -> None:  # type: ignore[no-untyped-def]
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def test_change_passphrase_rewraps_and_old_one_stops_working(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "still readable after the change")
    dialog = app.presenter.open_settings()
    qtbot.addWidget(dialog)
    assert dialog.change_button.isVisible()
    change = PassphraseDialog("Change Passphrase", True, dialog._change_passphrase, dialog)
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
        dialog = app.presenter.open_settings()
        qtbot.addWidget(dialog)
        assert dialog.switch_button.isVisible()
        with qtbot.waitSignal(app.session.tasks._relay.sig_done, timeout=10_000):
            dialog.switch_button.click()
        qtbot.waitUntil(lambda: dialog.key_source is KeySource.KEYRING, timeout=5_000)
        assert app.session.store.key_source is KeySource.KEYRING  # type: ignore[union-attr]
        assert "keyring" in dialog.key_label.text()


def test_auto_lock_and_offline_settings_apply_and_persist(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    app.presenter.settings_path = tmp_path / "settings.json"
    set_up_with_passphrase(qtbot, app)
    dialog = app.presenter.open_settings()
    qtbot.addWidget(dialog)
    dialog.auto_lock.setValue(15)
    dialog.offline.setChecked(True)
    ok(dialog)
    assert app.presenter._idle.isActive()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["auto_lock_minutes"] == 15
    assert saved["offline_mode"] is True
