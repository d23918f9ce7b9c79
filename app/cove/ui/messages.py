"""One bridge for what Cove tells a person: errors and notices in the banner, passing lines in
the status bar. Presenters speak through it and never reach for the window's widgets."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Signal


class MessageView(Protocol):
    """Where messages are shown (the main window)."""

    def show_banner(self, text: str, error: bool) -> None: ...
    def hide_banner(self) -> None: ...
    def show_status(self, text: str, timeout_ms: int) -> None: ...


class MessageBridge(QObject):
    """Says things to the person. What is said before a view is attached is held, then shown
    in order once it is (an error while the window is still being built is not lost)."""

    sig_said = Signal(str, str)
    """Something was said: its kind ("error", "notice", "status") and its text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view: MessageView | None = None
        self._held: list[tuple[str, str, int]] = []

    def attach(self, view: MessageView) -> None:
        self._view = view
        held, self._held = self._held, []
        for kind, text, timeout_ms in held:
            self._show(kind, text, timeout_ms)

    def error(self, text: str) -> None:
        """Something went wrong; the text says what to do about it."""
        self._show("error", text, 0)

    def notice(self, text: str) -> None:
        """Worth reading, nothing wrong (no model found yet, nothing to export)."""
        self._show("notice", text, 0)

    def status(self, text: str, timeout_ms: int = 3000) -> None:
        """A passing line in the status bar (0: until the next one)."""
        self._show("status", text, timeout_ms)

    def clear(self) -> None:
        """Hide the banner: what it said no longer holds (a new load, a new reply)."""
        if self._view is not None:
            self._view.hide_banner()
        self._held = [item for item in self._held if item[0] == "status"]

    def _show(self, kind: str, text: str, timeout_ms: int) -> None:
        self.sig_said.emit(kind, text)
        view = self._view
        if view is None:
            self._held.append((kind, text, timeout_ms))
        elif kind == "status":
            view.show_status(text, timeout_ms)
        else:
            view.show_banner(text, kind == "error")
