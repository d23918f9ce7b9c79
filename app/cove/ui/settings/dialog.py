"""The Settings dialog: a page per feature, OK and Cancel. The pages come from the feature
presenters (through SettingsPresenter), so this file knows none of them."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QVBoxLayout, QWidget


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(760, 640)  # room for the Models page's columns without scrolling
        self.tabs = QTabWidget(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)

    def add_page(self, title: str, page: QWidget, first: bool = False) -> None:
        """A feature's page; `first` puts it in front and shows it (the Models page)."""
        if first:
            self.tabs.insertTab(0, page, title)
            self.tabs.setCurrentIndex(0)
        else:
            self.tabs.addTab(page, title)
