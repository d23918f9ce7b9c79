"""Light, dark or the system's choice; an accent colour; a font size. One place builds the
palette and the style sheet, so every room of the window looks like one app.

The colours are set once per change of theme; painters (the message bubbles, the sidebar)
read them from `current()` instead of guessing from the palette.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

THEMES = ("system", "light", "dark")
THEME_NAMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
# Accent colours offered in Settings > Appearance; the first is Cove's own.
ACCENTS = {
    "Teal": "#0d9488",
    "Blue": "#2563eb",
    "Violet": "#7c3aed",
    "Rose": "#e11d48",
    "Amber": "#d97706",
    "Graphite": "#52525b",
}
DEFAULT_ACCENT = ACCENTS["Teal"]
FONT_RANGE = (8, 24)  # points, for the font-size setting and Ctrl+= / Ctrl+-
READING_WIDTH = 760  # pixels of message text, centred on wide windows


@dataclass(frozen=True)
class Colours:
    dark: bool
    window: str  # the conversation's background
    surface: str  # the sidebar and the header's pill buttons
    text: str
    dim: str  # secondary text: timestamps, speeds, headings
    border: str
    bubble: str  # the person's own messages
    field: str  # the composer and the search box
    hover: str
    accent: str
    on_accent: str
    code: str  # code blocks' background
    danger: str
    danger_tint: str
    notice_tint: str


LIGHT = Colours(
    dark=False, window="#ffffff", surface="#f7f7f8", text="#1f2328", dim="#6e7781",
    border="#e3e5e8", bubble="#f1f3f4", field="#ffffff", hover="#ececef",
    accent=DEFAULT_ACCENT, on_accent="#ffffff", code="#f6f8fa", danger="#c62828",
    danger_tint="#fdecea", notice_tint="#e8f4f2",
)
DARK = Colours(
    dark=True, window="#212121", surface="#181818", text="#ececec", dim="#9b9b9b",
    border="#363636", bubble="#2f2f2f", field="#2b2b2b", hover="#2c2c2c",
    accent=DEFAULT_ACCENT, on_accent="#ffffff", code="#171717", danger="#ef5350",
    danger_tint="#3b1f1f", notice_tint="#1d302d",
)

_current = LIGHT
_system_font: QFont | None = None


def current() -> Colours:
    """The colours of the theme in use (light until a theme is applied)."""
    return _current


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark


def colours_for(theme: str, accent: str = "") -> Colours:
    """The colours of `theme` ("system", "light" or "dark") with `accent` (empty: Cove's)."""
    dark = theme == "dark" or (theme not in ("light", "dark") and system_is_dark())
    base = DARK if dark else LIGHT
    colour = QColor(accent) if accent else QColor(DEFAULT_ACCENT)
    if not colour.isValid():
        colour = QColor(DEFAULT_ACCENT)
    return replace(base, accent=colour.name())


def font_for(size: int) -> QFont:
    """The application font at `size` points (0: the system's size)."""
    global _system_font
    if _system_font is None:
        _system_font = QFont(QGuiApplication.font())
    font = QFont(_system_font)
    if size:
        low, high = FONT_RANGE
        font.setPointSize(max(low, min(high, size)))
    return font


def palette_for(c: Colours) -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for name, value in (
            (role.Window, c.window), (role.WindowText, c.text), (role.Base, c.window),
            (role.AlternateBase, c.bubble), (role.Text, c.text), (role.Button, c.surface),
            (role.ButtonText, c.text), (role.Highlight, c.accent),
            (role.HighlightedText, c.on_accent), (role.PlaceholderText, c.dim),
            (role.ToolTipBase, c.surface), (role.ToolTipText, c.text), (role.Mid, c.border),
            (role.Midlight, c.hover), (role.Light, c.field), (role.Dark, c.border),
            (role.Link, c.accent), (role.BrightText, c.danger),
        ):
            palette.setColor(group, name, QColor(value))
    disabled = QColor(c.dim)
    for name in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, name, disabled)
    palette.setColor(QPalette.ColorGroup.Disabled, role.Base, QColor(c.window))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Window, QColor(c.window))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Button, QColor(c.surface))
    return palette


def style_sheet(c: Colours) -> str:
    """The few rules a palette cannot say: rounded fields, the sidebar's surface, the
    header's pill buttons. Widgets opt in by object name, so dialogs keep the system look."""
    return f"""
#sidebar {{ background: {c.surface}; border-right: 1px solid {c.border}; }}
#sidebar QListView {{ background: transparent; border: none; outline: 0; }}
#sidebar QLineEdit {{ background: {c.field}; border: 1px solid {c.border}; border-radius: 8px;
    padding: 5px 8px; }}
#sidebar QLineEdit:focus {{ border-color: {c.accent}; }}
QPushButton#newChat {{ background: transparent; border: 1px solid {c.border};
    border-radius: 8px; padding: 6px 10px; text-align: left; }}
QPushButton#newChat:hover {{ background: {c.hover}; }}
#header {{ border-bottom: 1px solid {c.border}; }}
#header QLabel#conversationTitle {{ color: {c.dim}; }}
QComboBox#modelPicker {{ background: transparent; border: 1px solid transparent;
    border-radius: 8px; padding: 4px 10px; font-weight: 600; }}
QComboBox#modelPicker:hover {{ background: {c.hover}; border-color: {c.border}; }}
QToolButton#headerButton {{ border: none; border-radius: 8px; padding: 5px; }}
QToolButton#headerButton:hover {{ background: {c.hover}; }}
#composerFrame {{ background: {c.field}; border: 1px solid {c.border}; border-radius: 18px; }}
#composerFrame[focused="true"] {{ border-color: {c.accent}; }}
#composerFrame QPlainTextEdit {{ background: transparent; border: none; }}
QToolButton#sendButton {{ background: {c.accent}; border: none; border-radius: 16px; }}
QToolButton#sendButton:disabled {{ background: {c.border}; }}
QToolButton#stopButton {{ background: {c.text}; border: none; border-radius: 16px; }}
QLabel#composerHint {{ color: {c.dim}; font-size: small; }}
QStatusBar {{ color: {c.dim}; }}
QStatusBar QToolButton {{ color: {c.dim}; border: none; padding: 0 4px; }}
QListWidget#settingsPages {{ background: {c.surface}; border: none; border-radius: 8px;
    padding: 4px; outline: 0; }}
QListWidget#settingsPages::item {{ padding: 7px 10px; border-radius: 6px; }}
QListWidget#settingsPages::item:selected {{ background: {c.hover}; color: {c.text}; }}
"""


def apply(theme: str = "system", accent: str = "", font_size: int = 0) -> Colours:
    """Set the application's palette, style sheet and font; returns the colours in use."""
    global _current
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    colours = colours_for(theme, accent)
    _current = colours
    if isinstance(app, QApplication):
        app.setStyle("Fusion")  # the same widgets on every desktop; it follows the palette
        app.setPalette(palette_for(colours))
        app.setFont(font_for(font_size))
        app.setStyleSheet(style_sheet(colours))
    return colours
