"""ReviewPane: a writing action's result as it streams, then as a word-level diff with a
choice per change, and Apply / Accept all / Insert below / Discard."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cove.notes.diff import Block, apply_blocks, changes
from cove.ui import theme

_SNIPPET = 80


@dataclass(frozen=True)
class DiffColours:
    """How removed and added words are tinted, readable on a light or a dark window."""

    removed: str
    removed_tint: str
    added: str
    added_tint: str


LIGHT_DIFF = DiffColours(removed="#b3261e", removed_tint="#fce8e6", added="#137333",
                         added_tint="#e6f4ea")
DARK_DIFF = DiffColours(removed="#f28b82", removed_tint="#3c1f1e", added="#81c995",
                        added_tint="#1e3626")


def diff_colours(colours: theme.Colours) -> DiffColours:
    return DARK_DIFF if colours.dark else LIGHT_DIFF


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def diff_html(blocks: list[Block], accepted: set[int], tint: DiffColours = LIGHT_DIFF) -> str:
    """The diff as HTML for the preview: removed words struck out in red, added in green; a
    rejected change shows the original. Every piece of text is escaped."""
    parts: list[str] = []
    for index, block in enumerate(blocks):
        if not block.changed:
            parts.append(html.escape(block.old))
        elif index in accepted:
            if block.old:
                parts.append(f'<s style="color:{tint.removed};background:{tint.removed_tint}">'
                             f"{html.escape(block.old)}</s>")
            if block.new:
                parts.append(f'<span style="color:{tint.added};background:{tint.added_tint}">'
                             f"{html.escape(block.new)}</span>")
        else:
            parts.append(html.escape(block.old))
    return ("<div style='white-space:pre-wrap'>" + "".join(parts) + "</div>")


class ReviewPane(QWidget):
    sig_apply = Signal(str)
    """Apply: the text with the chosen changes (replaces what the action worked on)."""
    sig_insert_below = Signal(str)
    """Insert below: the model's result, placed after what the action worked on."""
    sig_discard = Signal()
    """Discard: nothing changes."""
    sig_stop = Signal()
    """Stop: end the result being written (Esc)."""
    sig_note_link = Signal(str)
    """A cited note's link was clicked (Ask my notes): its id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPane")
        # A card with room around it, beside the note rather than glued to it.
        card = QFrame(self)
        card.setObjectName("reviewCard")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 6, 16, 4)
        outer.addWidget(card)
        self.tint = LIGHT_DIFF
        self.title = QLabel(card)
        self.title.setObjectName("reviewTitle")
        self.title.setWordWrap(True)
        self.preview = QTextBrowser(card)
        self.preview.setOpenLinks(False)
        self.changes_list = QListWidget(card)
        self.changes_list.setToolTip("Tick the changes to keep; untick the ones to refuse")
        self.stop_button = QPushButton("Stop", card)
        self.apply_button = QPushButton("Apply Chosen", card)
        self.accept_all_button = QPushButton("Accept All", card)
        self.insert_button = QPushButton("Insert Below", card)
        self.discard_button = QPushButton("Discard", card)
        self.accept_all_button.setObjectName("primaryButton")
        self.stop_button.setToolTip("Stop writing; what came so far stays for review (Esc)")
        self.insert_button.setToolTip("Put the result after the text; the text stays as it is")
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (self.stop_button, self.apply_button, self.insert_button,
                       self.discard_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.accept_all_button)
        layout = QVBoxLayout(card)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.changes_list, 1)
        layout.addLayout(buttons)
        self.blocks: list[Block] = []
        self.result = ""
        self.stop_button.clicked.connect(self.sig_stop)
        self.apply_button.clicked.connect(lambda: self.sig_apply.emit(self.chosen_text()))
        self.accept_all_button.clicked.connect(self.accept_all)
        self.insert_button.clicked.connect(lambda: self.sig_insert_below.emit(self.result))
        self.discard_button.clicked.connect(self.sig_discard)
        self.changes_list.itemChanged.connect(lambda _item: self._show_diff())
        self.preview.anchorClicked.connect(
            lambda url: self.sig_note_link.emit(url.path()) if url.scheme() == "note" else None)
        self.hide()

    def restyle(self, colours: theme.Colours) -> None:
        """Tint the diff for the theme in use (light and dark need different greens)."""
        self.tint = diff_colours(colours)
        if self.blocks:
            self._show_diff()

    def start(self, label: str) -> None:
        """A new result begins: show it streaming; only Stop works until it ends."""
        self.blocks, self.result = [], ""
        self.title.setText(f"{label}: writing…")
        self.preview.setPlainText("")
        self.changes_list.clear()
        self.changes_list.hide()
        self._set_streaming(True)
        self.show()

    def show_partial(self, text: str) -> None:
        self.preview.setPlainText(text)

    def show_result(self, label: str, result: str, blocks: list[Block], note: str = "") -> None:
        """The result as a diff, every change ticked (accepted) to begin with."""
        self.result, self.blocks = result, blocks
        count = len(changes(blocks))
        self.title.setText(f"{label}: {count} change{'s' if count != 1 else ''} to review"
                           + (f" ({note})" if note else ""))
        self.changes_list.blockSignals(True)
        self.changes_list.clear()
        for index in changes(blocks):
            block = blocks[index]
            words = {"insert": f"+ {_short(block.new)}", "delete": f"− {_short(block.old)}",
                     "replace": f"{_short(block.old)}  →  {_short(block.new)}"}[block.kind]
            item = QListWidgetItem(words, self.changes_list)
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
        self.changes_list.blockSignals(False)
        self.changes_list.setVisible(count > 0)
        self._set_streaming(False)
        self.apply_button.setEnabled(count > 0)
        self.accept_all_button.setEnabled(count > 0)
        self.insert_button.setEnabled(bool(result.strip()))
        self._show_diff()

    def show_answer(self, label: str, answer: str, answer_html: str, can_insert: bool) -> None:
        """An answer (Ask my notes) with its cited notes as links; it can go below the open
        note or be discarded."""
        self.result, self.blocks = answer, []
        self.title.setText(label)
        self.changes_list.clear()
        self.changes_list.hide()
        self._set_streaming(False)
        self.apply_button.setEnabled(False)
        self.accept_all_button.setEnabled(False)
        self.insert_button.setEnabled(can_insert and bool(answer.strip()))
        self.preview.setHtml(answer_html)

    def show_failure(self, label: str, message: str) -> None:
        self.title.setText(f"{label}: {message}")
        self._set_streaming(False)
        for button in (self.apply_button, self.accept_all_button, self.insert_button):
            button.setEnabled(False)

    def accepted(self) -> set[int]:
        chosen: set[int] = set()
        for row in range(self.changes_list.count()):
            item = self.changes_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                chosen.add(int(item.data(Qt.ItemDataRole.UserRole)))
        return chosen

    def set_accepted(self, change_number: int, accepted: bool) -> None:
        """Tick or untick the n-th change in the list (as a click on its box does)."""
        self.changes_list.item(change_number).setCheckState(
            Qt.CheckState.Checked if accepted else Qt.CheckState.Unchecked)

    def chosen_text(self) -> str:
        return apply_blocks(self.blocks, self.accepted())

    def accept_all(self) -> None:
        self.sig_apply.emit(apply_blocks(self.blocks, set(changes(self.blocks))))

    def _show_diff(self) -> None:
        self.preview.setHtml(diff_html(self.blocks, self.accepted(), self.tint))

    def _set_streaming(self, streaming: bool) -> None:
        self.stop_button.setVisible(streaming)
        for button in (self.apply_button, self.accept_all_button, self.insert_button):
            button.setVisible(not streaming)
        self.discard_button.setEnabled(True)
