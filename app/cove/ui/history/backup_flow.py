"""File > Back Up…, Restore…, Import… and Export All…: the questions asked in the window, the
work on the storage lane (``storage.backup``, ``storage.importers``, ``storage.export_all``),
progress in a dialog with Cancel (after 600 ms, so quick work does not flicker) and the status
bar, and the outcome as a sentence."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from cove.ui.tasks import Cancelled, Job, Lane

if TYPE_CHECKING:
    from cove.paths import AppPaths
    from cove.storage.backup import BackupSummary, RestoreResult
    from cove.storage.export_all import ExportAllResult
    from cove.storage.importers import ImportResult
    from cove.ui.chat.window import MainWindow
    from cove.ui.history.session import HistorySession

log = logging.getLogger(__name__)

BACKUP_FILTER = "Cove backups (*.covebackup);;All files (*)"
BACKUP_EXPLANATION = (
    "Choose a passphrase for this backup. It protects everything in it: your conversations, "
    "notes and settings. Without it the backup cannot be opened, so keep it somewhere safe.")
RESTORE_EXPLANATION = "Type the passphrase this backup was made with."
RESTORE_WARNING = (
    "Replace your history with the backup? The backup is checked in full first. Your current "
    "history is kept beside it as cove.db.before-restore-DATE until you remove it. After the "
    "restore, the history opens with the backup's passphrase.")
WINDOW_RESTORE_NOTE = (
    " Settings and the model list in the backup are not applied while Cove runs; "
    "`cove backup restore` with Cove closed applies them too.")


class PassphraseDialog(QDialog):
    """Asks for a backup's passphrase; with `confirm`, twice, and OK only when both match."""

    def __init__(self, explanation: str, confirm: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Backup Passphrase")
        text = QLabel(explanation, self)
        text.setWordWrap(True)
        self.passphrase = QLineEdit(self)
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.again = QLineEdit(self)
        self.again.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Passphrase:", self.passphrase)
        if confirm:
            form.addRow("Again:", self.again)
        self.again.setVisible(confirm)
        self.mismatch = QLabel("The two passphrases differ.", self)
        self.mismatch.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addWidget(self.mismatch)
        layout.addWidget(self.buttons)
        self._confirm = confirm
        self.passphrase.textChanged.connect(self._check)
        self.again.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        typed = self.passphrase.text()
        differs = self._confirm and bool(self.again.text()) and self.again.text() != typed
        self.mismatch.setVisible(differs)
        ok = bool(typed) and (not self._confirm or self.again.text() == typed)
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        button.setEnabled(ok)


def _percent(verb: str, done: int | None, total: int | None) -> str:
    if not total or done is None:
        return f"{verb}…"
    return f"{verb}… {min(100, done * 100 // total)}%"


PROGRESS_DELAY_MS = 600  # as Anki: quick work finishes before a dialog would flicker up


@dataclass
class _Running:
    """The one backup, restore, import or export under way: its progress dialog, the Cancel
    flag its progress callback checks on the storage lane, and what to say if cancelled."""

    dialog: QProgressDialog
    cancel: threading.Event
    cancelled_text: str

    def report(self, job: Job, verb: str, done: int, total: int) -> None:
        """The work's progress callback (storage lane): stop here if Cancel was pressed."""
        job.check()
        if self.cancel.is_set():
            raise Cancelled
        job.progress(verb, done, total)


class BackupFlow(QObject):
    """The four File menu actions and the work behind them, one at a time."""

    sig_done = Signal(str)
    """A backup, restore or import finished: the sentence shown."""
    sig_failed = Signal(str)
    """It failed: the sentence shown (nothing was changed)."""
    sig_cancelled = Signal(str)
    """The person pressed Cancel and the work stopped: the sentence shown."""

    def __init__(self, window: MainWindow, session: HistorySession, paths: AppPaths) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.paths = paths
        self.summary_box: QMessageBox | None = None
        self.backup_action = QAction("&Back Up History…", window)
        self.restore_action = QAction("&Restore from Backup…", window)
        self.import_action = QAction("&Import Chats…", window)
        self.export_all_action = QAction("E&xport All as Markdown…", window)
        self.backup_action.triggered.connect(self.ask_back_up)
        self.restore_action.triggered.connect(self.ask_restore)
        self.import_action.triggered.connect(self.ask_import)
        self.export_all_action.triggered.connect(self.ask_export_all)
        self.running: _Running | None = None
        self._add_to_file_menu()
        session.sig_state.connect(self._on_state)
        self._on_state(session.state.value, "")

    def _add_to_file_menu(self) -> None:
        # After Export, in the File menu the window built (window.py is not edited for this).
        export = self.window.export_action
        file_menu = next(menu for menu in self.window.menuBar().findChildren(QMenu)
                         if export in menu.actions())
        entries = file_menu.actions()
        after = entries.index(export) + 1
        for action in (self.backup_action, self.restore_action, self.import_action,
                       self.export_all_action):
            if after < len(entries):
                file_menu.insertAction(entries[after], action)
            else:
                file_menu.addAction(action)

    def _on_state(self, state: str, _message: str) -> None:
        self._state = state
        unlocked = state == "unlocked" and self.running is None
        self.backup_action.setEnabled(unlocked)
        self.import_action.setEnabled(unlocked)
        self.export_all_action.setEnabled(unlocked)
        self.restore_action.setEnabled(state != "opening" and self.running is None)

    # ---- asking ------------------------------------------------------------------------------

    def _passphrase(self, explanation: str, confirm: bool) -> str | None:
        dialog = PassphraseDialog(explanation, confirm, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.passphrase.text()

    def ask_back_up(self) -> None:
        target, _ = QFileDialog.getSaveFileName(self.window, "Back Up History",
                                                "Cove history.covebackup", BACKUP_FILTER)
        if not target:
            return
        passphrase = self._passphrase(BACKUP_EXPLANATION, confirm=True)
        if passphrase:
            self.back_up(Path(target), passphrase)

    def ask_restore(self) -> None:
        source, _ = QFileDialog.getOpenFileName(self.window, "Restore from Backup", "",
                                                BACKUP_FILTER)
        if not source:
            return
        answer = QMessageBox.warning(
            self.window, "Restore from Backup", RESTORE_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        passphrase = self._passphrase(RESTORE_EXPLANATION, confirm=False)
        if passphrase:
            self.restore(Path(source), passphrase)

    def ask_import(self) -> None:
        from cove.storage.importers import FORMATS

        names = list(FORMATS.values())
        chosen, ok = QInputDialog.getItem(self.window, "Import Chats",
                                          "Which app's export is it?", names, 0, False)
        if not ok:
            return
        format_name = list(FORMATS)[names.index(chosen)]
        if format_name == "jan":  # Jan keeps a folder per thread
            source = QFileDialog.getExistingDirectory(self.window, f"Import: {chosen}")
        else:
            source, _ = QFileDialog.getOpenFileName(
                self.window, f"Import: {chosen}", "",
                "Markdown (*.md);;All files (*)" if format_name == "cove"
                else "JSON files (*.json);;All files (*)")
        if source:
            self.import_file(format_name, Path(source))

    def ask_export_all(self) -> None:
        from cove.storage.export_all import EXPORT_ALL_WARNING, new_folder_in

        answer = QMessageBox.warning(
            self.window, "Export All as Markdown",
            "Every conversation and note will be written as a Markdown file of its own, in a "
            f"new folder inside the one you choose. {EXPORT_ALL_WARNING}",
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Ok:
            return
        parent = QFileDialog.getExistingDirectory(self.window, "Export All into Folder")
        if parent:
            self.export_all(new_folder_in(Path(parent)))

    # ---- the work (storage lane) ---------------------------------------------------------------

    def _begin(self, title: str, cancelled_text: str) -> _Running:
        """A progress dialog with Cancel (shown once the work has taken PROGRESS_DELAY_MS);
        the File menu's actions wait until this work is over."""
        dialog = QProgressDialog(f"{title}…", "Cancel", 0, 100, self.window)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.NonModal)  # setValue must not spin events
        dialog.setAutoReset(False)
        dialog.setAutoClose(False)
        dialog.setMinimumDuration(PROGRESS_DELAY_MS)
        running = _Running(dialog, threading.Event(), cancelled_text)
        dialog.canceled.connect(running.cancel.set)
        self.running = running
        self._on_state(self._state, "")
        return running

    def _end(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.dialog.canceled.disconnect()
            running.dialog.close()
            running.dialog.deleteLater()
        self.window.messages.status("", 1)
        self._on_state(self._state, "")

    def _progress(self, text: str, done: int | None, total: int | None) -> None:
        line = _percent(text, done, total)
        self.window.messages.status(line, 0)
        if self.running is not None:
            self.running.dialog.setLabelText(line)
            if total and done is not None:
                self.running.dialog.setValue(min(100, done * 100 // total))

    def _failed(self, error: BaseException) -> None:
        from cove.ui.history.session import storage_error_message

        running = self.running
        self._end()
        if isinstance(error, Cancelled) and running is not None:
            self.window.messages.notice(running.cancelled_text)
            self.sig_cancelled.emit(running.cancelled_text)
            return
        text = storage_error_message(error) if not _speaks(error) else str(error)
        self.window.messages.error(text)
        self.sig_failed.emit(text)

    def _done(self, text: str) -> None:
        self._end()
        self.window.messages.notice(text)
        self.sig_done.emit(text)

    def back_up(self, target: Path, passphrase: str) -> None:
        """Write the whole history to `target`, sealed under `passphrase`."""
        from cove.storage.backup import create_backup

        store = self.session.store
        if store is None or not self.session.unlocked:
            self._failed(RuntimeError("Unlock the history first."))
            return
        kdf = self.session.kdf_params
        running = self._begin("Backing Up", "Backup cancelled; no file was written.")

        def work(job: Job) -> BackupSummary:
            return create_backup(store, target, passphrase, paths=self.paths, kdf_params=kdf,
                                 progress=lambda d, t: running.report(job, "Backing up", d, t))

        def done(summary: BackupSummary) -> None:
            self._done(f"Backed up {summary.count('conversations')} conversations and "
                       f"{summary.count('notes')} notes to {target}.")

        self.session.tasks.start(work, done, self._failed, on_progress=self._progress,
                                 lane=Lane.STORAGE)

    def restore(self, source: Path, passphrase: str) -> None:
        """Check the backup in full, then replace the history with it (the old one is kept);
        the history then opens again, with the backup's passphrase."""
        from cove.storage.backup import check_backup

        running = self._begin("Restoring", "Restore cancelled; nothing was changed.")

        def check(job: Job) -> BackupSummary:
            return check_backup(source, passphrase,
                                lambda d, t: running.report(job, "Checking", d, t))

        self.session.tasks.start(check, lambda _summary: self._replace(source, passphrase),
                                 self._failed, on_progress=self._progress, lane=Lane.STORAGE)

    def _replace(self, source: Path, passphrase: str) -> None:
        from cove.storage.backup import restore_backup

        running = self.running
        assert running is not None
        if running.cancel.is_set():  # Cancel between the check and the restore: not locked
            self._failed(Cancelled())
            return
        kdf = self.session.kdf_params
        path = self.session.path
        running.cancelled_text += " Unlock your history to go on."  # replace_file locked it

        def work(job: Job, close: Any) -> RestoreResult:
            # Cancel is honoured while the new store is built; once it is whole, the swap
            # runs to the end.
            return restore_backup(source, passphrase, path, kdf_params=kdf,
                                  progress=lambda d, t: running.report(job, "Restoring", d, t),
                                  before_swap=close)

        def done(result: RestoreResult) -> None:
            kept = f" Your previous history is kept as {result.kept}." if result.kept else ""
            self._done(f"Restored {result.summary.count('conversations')} conversations and "
                       f"{result.summary.count('notes')} notes. Unlock with the backup's "
                       f"passphrase.{kept}{WINDOW_RESTORE_NOTE}")

        self.session.replace_file(work, done, self._failed, on_progress=self._progress)

    def import_file(self, format_name: str, source: Path) -> None:
        """Read another app's export and store its conversations (encrypted, nothing else)."""
        from cove.storage.importers import import_file

        store = self.session.store
        if store is None or not self.session.unlocked:
            self._failed(RuntimeError("Unlock the history first."))
            return

        running = self._begin("Importing", "Import cancelled; nothing was imported.")

        def work(job: Job) -> ImportResult:
            return import_file(store, format_name, source,
                               lambda d, t: running.report(job, "Importing", d, t))

        def done(result: ImportResult) -> None:
            self.session.reload()
            self._done(result.summary())
            self._show_summary(result)

        self.session.tasks.start(work, done, self._failed, on_progress=self._progress,
                                 lane=Lane.STORAGE)

    def export_all(self, folder: Path) -> None:
        """Write every conversation and note as Markdown files into `folder` (new or empty;
        0600 files). The person was warned that they are plaintext."""
        from cove.storage.export_all import export_all

        store = self.session.store
        if store is None or not self.session.unlocked:
            self._failed(RuntimeError("Unlock the history first."))
            return
        running = self._begin("Exporting", "Export cancelled; the files written so far were "
                              "removed.")

        def work(job: Job) -> ExportAllResult:
            return export_all(store, folder, lambda d, t: running.report(job, "Exporting", d, t))

        def done(result: ExportAllResult) -> None:
            self._done(result.summary())

        self.session.tasks.start(work, done, self._failed, on_progress=self._progress,
                                 lane=Lane.STORAGE)

    def _show_summary(self, result: ImportResult) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Import Finished", result.summary(),
                          QMessageBox.StandardButton.Ok, self.window)
        show = box.addButton("Show File in Folder", QMessageBox.ButtonRole.ActionRole)
        folder = QUrl.fromLocalFile(str(result.source.parent))
        show.clicked.connect(lambda: QDesktopServices.openUrl(folder))
        self.summary_box = box
        box.open()


def _speaks(error: BaseException) -> bool:
    """Errors whose own message is a sentence for a person (backup and import ones)."""
    from cove.storage.backup import BackupError
    from cove.storage.importers import ImportFailed

    return isinstance(error, BackupError | ImportFailed | RuntimeError)
