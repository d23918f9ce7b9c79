"""File > Back Up…, Restore… and Import… in the window: the work on the storage lane, the
sidebar after an import, a restore that swaps the file and reopens the history (then unlocked
with the backup's passphrase), and refusals that change nothing. A real encrypted file; a fake
model."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from cove.paths import app_paths
from cove.storage.export_all import EXPORT_ALL_WARNING
from cove.ui.chat.message_model import Roles
from cove.ui.history.backup_flow import BackupFlow, PassphraseDialog
from cove.ui.history.session import HistoryState
from tests.apphelpers import Opened, Opener, chat, set_up_with_passphrase, sidebar_titles

BACKUP_PASSPHRASE = "a passphrase just for the backup"
CHATGPT = Path(__file__).parents[2] / "fixtures" / "import" / "chatgpt-conversations.json"
CHATGPT_BRANCHES = CHATGPT.with_name("chatgpt-branches.json")


def ready(qtbot: QtBot, open_app: Opener) -> tuple[Opened, BackupFlow]:
    app = open_app()
    flow = BackupFlow(app.window, app.session, app_paths().ensure())
    assert not flow.backup_action.isEnabled()  # locked: nothing to back up yet
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "pack the blue tent")
    qtbot.waitUntil(lambda: len(sidebar_titles(app)) == 1)
    return app, flow


def test_the_actions_sit_in_the_file_menu_after_export(qtbot: QtBot, open_app: Opener) -> None:
    app, flow = ready(qtbot, open_app)
    assert flow.backup_action.isEnabled() and flow.import_action.isEnabled()
    menu = app.window.menuBar().actions()[0].menu()
    texts = [a.text() for a in menu.actions()]  # type: ignore[union-attr]
    at = texts.index(app.window.export_action.text())
    assert texts[at + 1 : at + 5] == ["&Back Up History…", "&Restore from Backup…",
                                      "&Import Chats…", "E&xport All as Markdown…"]
    assert flow.export_all_action.isEnabled()


def test_back_up_import_then_restore_in_the_window(qtbot: QtBot, open_app: Opener,
                                                   tmp_path: Path) -> None:
    app, flow = ready(qtbot, open_app)
    backup = tmp_path / "history.covebackup"
    with qtbot.waitSignal(flow.sig_done, timeout=20_000) as done:
        flow.back_up(backup, BACKUP_PASSPHRASE)
    assert done.args[0].startswith("Backed up 1 conversations and 0 notes to ")
    assert backup.stat().st_mode & 0o777 == 0o600

    with qtbot.waitSignal(flow.sig_done, timeout=20_000) as done:
        flow.import_file("chatgpt", CHATGPT)
    assert "Imported 2 conversations" in done.args[0]
    assert flow.summary_box is not None and "still on disk in plaintext" in (
        flow.summary_box.text())
    qtbot.waitUntil(lambda: len(sidebar_titles(app)) == 3)
    assert "Welsh greeting" in sidebar_titles(app)

    # A wrong passphrase: refused after the check, and the history stays open as it was.
    with qtbot.waitSignal(flow.sig_failed, timeout=20_000) as failed:
        flow.restore(backup, "not the passphrase")
    assert "does not open this backup" in failed.args[0]
    assert app.session.state is HistoryState.UNLOCKED and len(sidebar_titles(app)) == 3

    with qtbot.waitSignal(flow.sig_done, timeout=30_000):
        flow.restore(backup, BACKUP_PASSPHRASE)
    # Reopened the usual way: the unlock page, for the restored file's passphrase.
    qtbot.waitUntil(lambda: app.session.state is HistoryState.LOCKED
                    and app.session.store is not None, timeout=10_000)
    kept = [p for p in app.session.path.parent.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1
    page = app.window.unlock_page
    qtbot.keyClicks(page.passphrase, BACKUP_PASSPHRASE)
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda s, _m: s == HistoryState.UNLOCKED):
        page.primary.click()
    qtbot.waitUntil(lambda: sidebar_titles(app) == ["pack the blue tent"])


def test_a_damaged_backup_changes_nothing(qtbot: QtBot, open_app: Opener,
                                          tmp_path: Path) -> None:
    app, flow = ready(qtbot, open_app)
    backup = tmp_path / "history.covebackup"
    with qtbot.waitSignal(flow.sig_done, timeout=20_000):
        flow.back_up(backup, BACKUP_PASSPHRASE)
    backup.write_bytes(backup.read_bytes()[:-1])
    before = hashlib.sha256(app.session.path.read_bytes()).hexdigest()
    said: list[tuple[str, str]] = []
    app.window.messages.sig_said.connect(lambda kind, text: said.append((kind, text)))
    with qtbot.waitSignal(flow.sig_failed, timeout=20_000) as failed:
        flow.restore(backup, BACKUP_PASSPHRASE)
    assert "cut short" in failed.args[0]
    assert ("error", failed.args[0]) in said  # the banner says it
    assert hashlib.sha256(app.session.path.read_bytes()).hexdigest() == before
    assert app.session.state is HistoryState.UNLOCKED


def test_the_passphrase_dialog_wants_two_matching_entries(qtbot: QtBot) -> None:
    dialog = PassphraseDialog("explained", confirm=True)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled()
    qtbot.keyClicks(dialog.passphrase, "tide")
    qtbot.keyClicks(dialog.again, "tidy")
    assert not ok.isEnabled() and not dialog.mismatch.isHidden()
    dialog.again.clear()
    qtbot.keyClicks(dialog.again, "tide")
    assert ok.isEnabled() and dialog.mismatch.isHidden()


@contextmanager
def storage_lane_busy(app: Opened) -> Iterator[None]:
    """Hold the storage lane (as a long job ahead would) until the block ends."""
    gate = threading.Event()
    app.session.tasks.run(lambda: gate.wait(20))
    try:
        yield
    finally:
        gate.set()


def press_cancel(qtbot: QtBot, flow: BackupFlow) -> None:
    """Wait for the progress dialog (it shows once the work has taken 600 ms) and press its
    Cancel button, as a person would."""
    assert flow.running is not None
    dialog = flow.running.dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert not flow.backup_action.isEnabled() and not flow.restore_action.isEnabled()
    button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_cancel_stops_a_backup_an_import_and_a_restore_changing_nothing(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app, flow = ready(qtbot, open_app)
    backup = tmp_path / "history.covebackup"
    with (qtbot.waitSignal(flow.sig_cancelled, timeout=20_000) as cancelled,
          storage_lane_busy(app)):
        flow.back_up(backup, BACKUP_PASSPHRASE)
        press_cancel(qtbot, flow)
    assert cancelled.args[0] == "Backup cancelled; no file was written."
    assert list(tmp_path.glob("*history.covebackup*")) == []  # no partial file either
    assert flow.running is None and flow.backup_action.isEnabled()

    with (qtbot.waitSignal(flow.sig_cancelled, timeout=20_000) as cancelled,
          storage_lane_busy(app)):
        flow.import_file("chatgpt", CHATGPT)
        press_cancel(qtbot, flow)
    assert cancelled.args[0] == "Import cancelled; nothing was imported."
    assert app.session.store is not None
    assert len(app.session.store.list_conversations()) == 1

    with qtbot.waitSignal(flow.sig_done, timeout=20_000):
        flow.back_up(backup, BACKUP_PASSPHRASE)
    before = hashlib.sha256(app.session.path.read_bytes()).hexdigest()
    with (qtbot.waitSignal(flow.sig_cancelled, timeout=20_000) as cancelled,
          storage_lane_busy(app)):
        flow.restore(backup, BACKUP_PASSPHRASE)
        press_cancel(qtbot, flow)
    assert cancelled.args[0] == "Restore cancelled; nothing was changed."
    assert hashlib.sha256(app.session.path.read_bytes()).hexdigest() == before
    assert app.session.state is HistoryState.UNLOCKED  # cancelled while checking: still open
    assert not [p for p in app.session.path.parent.iterdir() if "restor" in p.name]


def test_export_all_in_the_window_writes_private_files(qtbot: QtBot, open_app: Opener,
                                                       tmp_path: Path) -> None:
    app, flow = ready(qtbot, open_app)
    folder = tmp_path / "Cove export"
    with qtbot.waitSignal(flow.sig_done, timeout=20_000) as done:
        flow.export_all(folder)
    assert done.args[0].startswith(f"Exported 1 conversations and 0 notes as Markdown to "
                                   f"{folder}.")
    assert EXPORT_ALL_WARNING in done.args[0]
    (exported,) = (folder / "Conversations").iterdir()
    assert exported.name == "pack the blue tent.md"
    assert exported.stat().st_mode & 0o777 == 0o600
    assert "pack the blue tent" in exported.read_text()

    cancelled_folder = tmp_path / "second"
    with (qtbot.waitSignal(flow.sig_cancelled, timeout=20_000) as cancelled,
          storage_lane_busy(app)):
        flow.export_all(cancelled_folder)
        press_cancel(qtbot, flow)
    assert "the files written so far were removed" in cancelled.args[0]
    assert not cancelled_folder.exists()


def test_an_imported_branched_conversation_opens_on_its_branch_with_versions_to_flip(
        qtbot: QtBot, open_app: Opener) -> None:
    app, flow = ready(qtbot, open_app)
    with qtbot.waitSignal(flow.sig_done, timeout=20_000) as done:
        flow.import_file("chatgpt", CHATGPT_BRANCHES)
    assert "(7 messages, 3 of them on other branches)" in done.args[0]
    qtbot.waitUntil(lambda: "Rivers" in sidebar_titles(app))
    sidebar, controller = app.window.sidebar, app.window.controller
    row = sidebar_titles(app).index("Rivers")
    with qtbot.waitSignal(controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(sidebar.model.summary(row))
    model = controller.model
    assert [m.text for m in model.conversation.messages] == [
        "Name three rivers in Wales.", "The Severn, the Wye and the Teifi.",
        "Which is the longest?", "The Severn, at about 354 km."]
    assert model.index(0, 0).data(Roles.VERSIONS) == (1, 2)  # the edit came later
    assert model.index(3, 0).data(Roles.VERSIONS) == (1, 2)  # so did the regenerated reply

