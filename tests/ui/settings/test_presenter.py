"""The SettingsPresenter: the one writer of settings.json, and the owner of the dialog."""

from __future__ import annotations

import json
from pathlib import Path

from pytestqt.qtbot import QtBot

from cove.settings import Settings
from cove.ui.settings.dialog import SettingsDialog
from cove.ui.settings.presenter import SettingsPresenter
from tests.ui.conftest import WindowMaker


def test_pages_come_from_listeners_and_ok_saves_then_applies(
        qtbot: QtBot, make_window: WindowMaker, tmp_path: Path) -> None:
    window = make_window()
    presenter = SettingsPresenter(window, Settings(), tmp_path / "settings.json")
    order: list[str] = []

    def add_page(dialog: SettingsDialog) -> None:
        from PySide6.QtWidgets import QLabel

        dialog.add_page("Later", QLabel("later"))
        dialog.add_page("First", QLabel("first"), first=True)

    def take(_dialog: SettingsDialog) -> None:
        order.append("accepted")
        presenter.settings.auto_lock_minutes = 3

    presenter.sig_opened.connect(add_page)
    presenter.sig_accepted.connect(take)
    presenter.sig_applied.connect(lambda: order.append(
        "applied with the file saved: "
        + str(json.loads((tmp_path / "settings.json").read_text())["auto_lock_minutes"])))
    window.settings_action.setEnabled(True)  # as once the history is unlocked
    window.settings_action.trigger()  # Ctrl+, opens it
    dialog = presenter.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    assert dialog.titles() == ["First", "Later"]
    dialog.accept()
    assert order == ["accepted", "applied with the file saved: 3"]
    assert presenter.dialog is None


def test_a_file_that_cannot_be_written_is_said_and_nothing_crashes(
        make_window: WindowMaker, tmp_path: Path) -> None:
    window = make_window()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the settings folder should be")
    presenter = SettingsPresenter(window, Settings(), blocked / "settings.json")
    assert presenter.save() is False
    assert window.banner.isVisible()
    assert window.banner.label.text().startswith("Settings could not be saved")


def test_close_dialog_rejects_without_saving(
        qtbot: QtBot, make_window: WindowMaker, tmp_path: Path) -> None:
    window = make_window()
    presenter = SettingsPresenter(window, Settings(), tmp_path / "settings.json")
    dialog = presenter.open()
    qtbot.addWidget(dialog)
    presenter.close_dialog()  # as locking does: it may show a decrypted system prompt
    assert not dialog.isVisible()
    assert not (tmp_path / "settings.json").exists()
