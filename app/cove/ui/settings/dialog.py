"""The Settings dialog: a list of pages on the left (Models, Chat, Appearance, Privacy &
Security), the page on the right, OK and Cancel. The pages come from the feature presenters
(through SettingsPresenter), so this file knows none of them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QListWidget,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

# Where each page goes in the list, by title; pages not named here go after these.
PAGE_ORDER = ("Models", "Chat", "Appearance", "Privacy & Security")


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.page_list = QListWidget(self)
        self.page_list.setObjectName("settingsPages")
        self.page_list.setFixedWidth(190)
        self.page_list.setAccessibleName("Settings pages")
        self.stack = QStackedWidget(self)
        self.page_list.currentRowChanged.connect(self.stack.setCurrentIndex)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(self.page_list)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 12)
        layout.addLayout(body, 1)
        layout.addWidget(buttons)
        self._titles: list[str] = []
        self.pages: dict[str, QWidget] = {}
        self._first: set[str] = set()
        self._size_to_screen()

    def _rank(self, name: str) -> int:
        if name in self._first:
            return -1
        return PAGE_ORDER.index(name) if name in PAGE_ORDER else len(PAGE_ORDER)

    def titles(self) -> list[str]:
        """The pages' titles, top to bottom."""
        return list(self._titles)

    def current_page(self) -> QWidget | None:
        return self.pages.get(self.current_title())

    def _size_to_screen(self) -> None:
        """Room for the Models table's columns and a real system-prompt box, within the
        screen (a small laptop screen gets a smaller dialog whose pages scroll)."""
        width, height = 1000, 740
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.92))
            height = min(height, int(available.height() * 0.9))
        self.resize(width, height)

    def add_page(self, title: str, page: QWidget, first: bool = False) -> None:
        """A feature's page, placed by PAGE_ORDER; `first` also shows it (the Models page).
        `title` may carry a mnemonic ampersand ("Privacy && Security")."""
        name = title.replace("&&", "&")
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(page)
        if first:
            self._first.add(name)
        row = sum(1 for other in self._titles if self._rank(other) <= self._rank(name))
        self._titles.insert(row, name)
        self.pages[name] = page
        self.stack.insertWidget(row, scroll)
        self.page_list.insertItem(row, name)
        if first or self.page_list.currentRow() < 0:
            self.page_list.setCurrentRow(row)
        else:
            self.stack.setCurrentIndex(self.page_list.currentRow())

    def show_page(self, title: str) -> bool:
        """Bring the page called `title` to the front."""
        name = title.replace("&&", "&")
        if name not in self._titles:
            return False
        self.page_list.setCurrentRow(self._titles.index(name))
        return True

    def current_title(self) -> str:
        row = self.page_list.currentRow()
        return self._titles[row] if 0 <= row < len(self._titles) else ""
