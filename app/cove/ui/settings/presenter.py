"""SettingsPresenter: the one owner of Settings and settings.json, and of the Settings dialog.

Feature presenters never open the dialog or write the file themselves. When the dialog opens
they add their pages (`sig_opened`); when it is accepted they move their pages' edits into
`settings` (`sig_accepted`), the file is written once, and then they act on what changed
(`sig_applied`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cove.settings import Settings
from cove.ui.chat.window import MainWindow
from cove.ui.settings.dialog import SettingsDialog

log = logging.getLogger(__name__)


class SettingsPresenter(QObject):
    sig_opened = Signal(object)
    """A Settings dialog was built (its argument): add your pages to it now."""
    sig_accepted = Signal(object)
    """The dialog (its argument) was accepted: write your pages' edits into `settings`."""
    sig_applied = Signal()
    """The accepted settings were saved: act on what changed."""

    def __init__(self, window: MainWindow | None = None, settings: Settings | None = None,
                 path: Path | None = None) -> None:
        """`window`: its Settings action opens the dialog, its message bridge reports a file
        that cannot be written. `path` None: settings are kept in memory only (tests)."""
        super().__init__(window)
        self.settings = settings if settings is not None else Settings()
        self.path = path
        self._window = window
        self.dialog: SettingsDialog | None = None
        if window is not None:
            window.settings_action.triggered.connect(lambda: self.open())

    def open(self) -> SettingsDialog:
        dialog = SettingsDialog(self._window)
        self.dialog = dialog
        self.sig_opened.emit(dialog)
        dialog.accepted.connect(lambda: self._accept(dialog))
        dialog.finished.connect(lambda _result: self._forget(dialog))
        dialog.open()
        return dialog

    def close_dialog(self) -> None:
        """Close an open Settings dialog without saving (at lock: it may show a system
        prompt, which is decrypted text)."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.reject()

    def save(self) -> bool:
        """Write settings.json; a failure is said to the person, and False returned."""
        if self.path is None:
            return True
        try:
            self.settings.save(self.path)
        except OSError as error:
            log.warning("settings not saved: %s", type(error).__name__)
            if self._window is not None:
                self._window.messages.error(
                    f"Settings could not be saved ({error.strerror or type(error).__name__}).")
            return False
        return True

    def remember_layout(self, layout: tuple[str, str]) -> None:
        """Keep the window's size, position and sidebar width (and, set by the history
        presenter, the conversation open) for the next start."""
        self.settings.window_geometry, self.settings.window_splitter = layout
        self.save()

    def _accept(self, dialog: SettingsDialog) -> None:
        self.sig_accepted.emit(dialog)
        self.save()
        self.sig_applied.emit()

    def _forget(self, dialog: SettingsDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
