"""How Cove looks and how its chat behaves: the Appearance and Chat pages of Settings, the
View menu's theme and zoom, and applying them (AppearancePresenter)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSize
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove.settings import Settings
from cove.ui import theme
from cove.ui.chat.view import MessageDelegate
from cove.ui.chat.window import MainWindow
from cove.ui.settings.dialog import SettingsDialog
from cove.ui.settings.presenter import SettingsPresenter


class AppearancePage(QWidget):
    """Theme (light, dark or the system's), accent colour and text size."""

    TITLE = "Appearance"

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.themes = QButtonGroup(self)
        theme_row = QVBoxLayout()
        for name in theme.THEMES:
            button = QRadioButton(theme.THEME_NAMES[name], self)
            button.setProperty("theme", name)
            button.setChecked(name == settings.theme)
            self.themes.addButton(button)
            theme_row.addWidget(button)
        self.accents = QButtonGroup(self)
        self.accents.setExclusive(True)
        accent_row = QHBoxLayout()
        chosen = QColor(settings.accent or theme.DEFAULT_ACCENT).name()
        for label, colour in theme.ACCENTS.items():
            swatch = QToolButton(self)
            swatch.setCheckable(True)
            swatch.setToolTip(label)
            swatch.setAccessibleName(f"{label} accent")
            swatch.setProperty("accent", colour)
            swatch.setFixedSize(QSize(28, 28))
            swatch.setStyleSheet(
                f"QToolButton {{ background: {colour}; border-radius: 14px; border: 2px solid "
                f"transparent; }} QToolButton:checked {{ border-color: palette(text); }}")
            swatch.setChecked(colour == chosen)
            self.accents.addButton(swatch)
            accent_row.addWidget(swatch)
        accent_row.addStretch(1)
        self.font_size = QSpinBox(self)
        low, high = theme.FONT_RANGE
        self.font_size.setRange(low - 1, high)
        self.font_size.setSpecialValueText("The system's size")
        self.font_size.setSuffix(" pt")
        self.font_size.setValue(settings.font_size or low - 1)
        zoom = QLabel("Ctrl+= and Ctrl+- change the size from the keyboard; Ctrl+0 returns "
                      "to the system's size.", self)
        zoom.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Theme:", theme_row)
        form.addRow("Accent colour:", accent_row)
        form.addRow("Text size:", self.font_size)
        form.addRow(zoom)

    def take(self, settings: Settings) -> None:
        checked = self.themes.checkedButton()
        if checked is not None:
            settings.theme = str(checked.property("theme"))
        swatch = self.accents.checkedButton()
        if swatch is not None:
            colour = str(swatch.property("accent"))
            settings.accent = "" if colour == theme.DEFAULT_ACCENT else colour
        low, _high = theme.FONT_RANGE
        settings.font_size = 0 if self.font_size.value() < low else self.font_size.value()


class ChatPage(QWidget):
    """How the chat behaves: which key sends, what shows under a reply."""

    TITLE = "Chat"

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctrl_enter = QCheckBox("Send with Ctrl+Enter (Enter starts a new line)", self)
        self.ctrl_enter.setChecked(settings.ctrl_enter_sends)
        self.details = QCheckBox("Show the model and its speed under each reply", self)
        self.details.setChecked(settings.show_reply_details)
        self.titles = QCheckBox("Let the model name new conversations (after the first reply; "
                                "a title you give is kept)", self)
        self.titles.setChecked(settings.model_titles)
        note = QLabel("With details hidden, they still show while the mouse is on a reply.",
                      self)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.ctrl_enter)
        layout.addWidget(self.details)
        layout.addWidget(self.titles)
        layout.addWidget(note)
        layout.addStretch(1)

    def take(self, settings: Settings) -> None:
        settings.ctrl_enter_sends = self.ctrl_enter.isChecked()
        settings.show_reply_details = self.details.isChecked()
        settings.model_titles = self.titles.isChecked()


class AppearancePresenter(QObject):
    """Applies the look and the chat's behaviour from Settings, at start and on change."""

    def __init__(self, window: MainWindow, settings: SettingsPresenter) -> None:
        super().__init__(window)
        self.window = window
        self.settings_presenter = settings
        self._pages: tuple[AppearancePage, ChatPage] | None = None
        settings.sig_opened.connect(self._add_pages)
        settings.sig_accepted.connect(self._take_pages)
        settings.sig_applied.connect(self.apply)
        window.sig_zoom.connect(self.zoom)
        window.sig_theme.connect(self.set_theme)
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_system_scheme)
        # The theme itself was applied before the window was built (no flash of white).
        apply_look(window, self.settings, colours=False)

    def _on_system_scheme(self, _scheme: object) -> None:
        if self.settings.theme == "system":
            self.apply()

    @property
    def settings(self) -> Settings:
        return self.settings_presenter.settings

    def apply(self) -> None:
        apply_look(self.window, self.settings)

    def zoom(self, step: int) -> None:
        """Ctrl+= (1), Ctrl+- (-1), Ctrl+0 (0): the text size, kept for the next start."""
        low, high = theme.FONT_RANGE
        if step == 0:
            size = 0
        else:
            now = self.settings.font_size or round(theme.font_for(0).pointSizeF())
            size = max(low, min(high, now + step))
        if size == self.settings.font_size:
            return
        self.settings.font_size = size
        self.apply()
        self.settings_presenter.save()
        shown = f"{size} pt" if size else "the system's size"
        self.window.messages.status(f"Text size: {shown}", 2000)

    def set_theme(self, name: str) -> None:
        if name not in theme.THEMES:
            return
        self.settings.theme = name
        self.apply()
        self.settings_presenter.save()

    def _add_pages(self, dialog: SettingsDialog) -> None:
        pages = (AppearancePage(self.settings), ChatPage(self.settings))
        self._pages = pages
        for page in pages:
            dialog.add_page(page.TITLE, page)

    def _take_pages(self, _dialog: SettingsDialog) -> None:
        if self._pages is not None:
            for page in self._pages:
                page.take(self.settings)
            self._pages = None


def apply_look(window: MainWindow, settings: Settings, colours: bool = True) -> None:
    """Theme, accent and text size for the whole app (`colours`); the chat's keys and
    details."""
    if colours:
        theme.apply(settings.theme, settings.accent, settings.font_size)
    action = window.theme_actions.get(settings.theme)
    if action is not None:
        action.setChecked(True)
    window.composer.edit.set_ctrl_enter_sends(settings.ctrl_enter_sends)
    window.controller.auto_titles = settings.model_titles
    delegate = window.chat_view.itemDelegate()
    if isinstance(delegate, MessageDelegate):
        delegate.show_details = settings.show_reply_details
    window.restyle()
