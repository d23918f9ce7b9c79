"""NotesWorkspace: the notes list (search, grouping, a "…" menu per row), the note's header
with its icon buttons, the editor or its preview in a reading column, a quiet word count,
and the review pane. A view only: NotesPresenter wires it."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import time

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove.core.projects import Project
from cove.core.units import date_group
from cove.notes.note import UNTITLED, NoteSummary
from cove.ui import icons, theme
from cove.ui.hover import follow_hover, hover_rows, more_button_pressed
from cove.ui.notes.editor import TEXT_MARGIN, NoteEditor, centre_column
from cove.ui.notes.review import ReviewPane

Index = QModelIndex | QPersistentModelIndex
MARKDOWN = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
            | QTextDocument.MarkdownFeature.MarkdownNoHTML)
DAMAGED_TITLE = "Damaged note"


class Roles(enum.IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1
    PINNED = enum.auto()
    GROUP = enum.auto()  # the heading it sits under: "Pinned", "Today", "Yesterday", …
    DETAIL = enum.auto()  # the row's second line: when and how long, or the search snippet
    DAMAGED = enum.auto()
    PROJECT = enum.auto()  # the id of the project it is in; "": none (or one since deleted)


def when_label(updated: float, now: float) -> str:
    """A row's time: the hour today, else the day (and the year when it is not this one)."""
    day, today = dt.datetime.fromtimestamp(updated), dt.datetime.fromtimestamp(now)
    if day.date() == today.date():
        return day.strftime("%H:%M")
    if day.year == today.year:
        return f"{day.day} {day.strftime('%b')}"
    return f"{day.day} {day.strftime('%b %Y')}"


class NoteListModel(QAbstractListModel):
    """The notes: each project's under its heading (as the chat sidebar has them), then the
    rest pinned first then newest; while searching, only the notes that match."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: dict[str, NoteSummary] = {}
        self._projects: dict[str, int] = {}  # id -> place in the (sorted) project list
        self._project_names: dict[str, str] = {}
        self._rows: list[NoteSummary] = []
        self._only: list[str] | None = None  # search hits, best first
        self._snippets: dict[str, str] = {}

    @property
    def searching(self) -> bool:
        return self._only is not None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        summary = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return DAMAGED_TITLE if summary.damaged else summary.title or UNTITLED
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._snippets.get(summary.id) or f"{summary.words:,} words"
        if role == Roles.ID:
            return summary.id
        if role == Roles.PINNED:
            return summary.pinned
        if role == Roles.GROUP:
            return self.group_of(summary)
        if role == Roles.DETAIL:
            return self._detail(summary)
        if role == Roles.DAMAGED:
            return summary.damaged
        if role == Roles.PROJECT:
            return self._project_of(summary)
        return None

    def _project_of(self, summary: NoteSummary) -> str:
        return summary.project if summary.project in self._projects else ""

    def _detail(self, summary: NoteSummary) -> str:
        if summary.id in self._snippets:
            return self._snippets[summary.id]
        if summary.damaged:
            return "Its stored copy cannot be read"
        words = f"{summary.words:,} word{'s' if summary.words != 1 else ''}"
        return f"{when_label(summary.updated, time.time())} · {words}"

    def group_of(self, summary: NoteSummary) -> str:
        project = self._project_of(summary)
        if project:
            return self._project_names[project]
        return "Pinned" if summary.pinned else date_group(summary.updated, time.time())

    def _order(self, summary: NoteSummary) -> tuple[int, bool, float]:
        project = self._project_of(summary)
        return (self._projects[project] if project else len(self._projects),
                *summary.list_order())

    def starts_group(self, row: int) -> bool:
        """Whether a heading goes above this row (never while searching: hits are ranked)."""
        if self.searching or not 0 <= row < len(self._rows):
            return False
        return row == 0 or (self.group_of(self._rows[row])
                            != self.group_of(self._rows[row - 1]))

    def set_projects(self, projects: list[Project]) -> None:
        """The projects whose headings the list shows, in their order (the sidebar's)."""
        self._projects = {p.id: n for n, p in enumerate(projects)}
        self._project_names = {p.id: p.name for p in projects}
        self._rebuild()

    def set_notes(self, summaries: list[NoteSummary]) -> None:
        self._all = {s.id: s for s in summaries}
        self._rebuild()

    def upsert(self, summary: NoteSummary) -> None:
        self._all[summary.id] = summary
        self._rebuild()

    def remove(self, note_id: str) -> None:
        self._all.pop(note_id, None)
        self._rebuild()

    def show_only(self, ids: list[str] | None, snippets: dict[str, str] | None = None) -> None:
        """Show only `ids` (search hits, in their order); None shows every note again."""
        self._only = ids
        self._snippets = snippets or {}
        self._rebuild()

    def _rebuild(self) -> None:
        self.beginResetModel()
        if self._only is None:
            self._rows = sorted(self._all.values(), key=self._order)
        else:
            self._rows = [self._all[i] for i in self._only if i in self._all]
        self.endResetModel()

    def row_of(self, note_id: str) -> int:
        return next((n for n, s in enumerate(self._rows) if s.id == note_id), -1)

    def summary(self, note_id: str) -> NoteSummary | None:
        return self._all.get(note_id)

    def titles(self) -> list[str]:
        return [str(self.data(self.index(row))) for row in range(self.rowCount())]


class NoteDelegate(QStyledItemDelegate):
    """Two lines a note (its title, then when and how long, or the search snippet), a small
    heading above each group, a quiet hover and selection, and a "…" on the hovered row."""

    HEADING_GAP = 10
    PADDING = 7
    MORE = 22

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hovered_row = -1

    @staticmethod
    def _starts_group(index: Index) -> bool:
        model = index.model()
        return isinstance(model, NoteListModel) and model.starts_group(index.row())

    def _heading_height(self, metrics: QFontMetrics) -> int:
        return metrics.height() + self.HEADING_GAP

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        metrics = option.fontMetrics
        height = 2 * self.PADDING + 2 * metrics.height() + 2
        if self._starts_group(index):
            height += self._heading_height(metrics)
        return QSize(max(option.rect.width(), 160), height)

    def item_rect(self, option_rect: QRect, index: Index) -> QRect:
        """The row itself, below its heading if it has one."""
        if self._starts_group(index):
            parent = self.parent()
            font = parent.font() if isinstance(parent, QWidget) else QFont()
            return option_rect.adjusted(0, self._heading_height(QFontMetrics(font)), 0, 0)
        return option_rect

    def more_rect(self, option_rect: QRect, index: Index) -> QRect:
        """Where the "…" button of a row is drawn (and clicked)."""
        item = self.item_rect(option_rect, index)
        return QRect(item.right() - self.MORE - 8, item.center().y() - self.MORE // 2,
                     self.MORE, self.MORE)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        colours = theme.current()
        metrics = option.fontMetrics
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        if self._starts_group(index):
            heading = self._heading_height(metrics)
            font = QFont(option.font)
            font.setBold(True)
            font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
            painter.setFont(font)
            painter.setPen(QColor(colours.dim))
            painter.drawText(QRect(rect.left() + 12, rect.top() + self.HEADING_GAP // 2,
                                   rect.width() - 16, heading - self.HEADING_GAP // 2),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             str(index.data(Roles.GROUP)))
            rect.setTop(rect.top() + heading)
        hovered = index.row() == self.hovered_row
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected or hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.border if selected else colours.hover))
            painter.drawRoundedRect(rect.adjusted(4, 1, -4, -1), 8, 8)
        text = rect.adjusted(12, self.PADDING, -(self.MORE + 14) if hovered else -12,
                             -self.PADDING)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold)
        title_font.setItalic(bool(index.data(Roles.DAMAGED)))
        painter.setFont(title_font)
        painter.setPen(QColor(colours.text))
        line = QRect(text.left(), text.top(), text.width(), metrics.height())
        painter.drawText(line, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         QFontMetrics(title_font).elidedText(
                             str(index.data()), Qt.TextElideMode.ElideRight, line.width()))
        painter.setFont(option.font)
        painter.setPen(QColor(colours.dim))
        line.translate(0, metrics.height() + 2)
        detail = " ".join(str(index.data(Roles.DETAIL) or "").split())
        painter.drawText(line, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         metrics.elidedText(detail, Qt.TextElideMode.ElideRight, line.width()))
        if hovered:
            more = QRect(rect.right() - self.MORE - 8, rect.center().y() - self.MORE // 2,
                         self.MORE, self.MORE)
            painter.drawPixmap(more.adjusted(3, 3, -3, -3),
                               icons.pixmap("ellipsis", colours.dim))
        painter.restore()


class NotePreview(QTextBrowser):
    """The note rendered (Markdown, no raw HTML), in the same reading column as the editor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.document().setDocumentMargin(TEXT_MARGIN)

    def resizeEvent(self, event: QResizeEvent) -> None:
        centre_column(self, self.setViewportMargins)
        super().resizeEvent(event)


class CommandPalette(QDialog):
    """Ctrl+J: type to filter the writing actions (and the other note commands), Enter runs
    the first one shown."""

    sig_chosen = Signal(str)
    """The key of the command chosen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Writing Actions")
        self.filter_box = QLineEdit(self)
        self.filter_box.setPlaceholderText("Type to find an action…")
        self.list = QListWidget(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.list)
        self.filter_box.textChanged.connect(self._filter)
        self.filter_box.returnPressed.connect(self._choose_first)
        self.list.itemActivated.connect(self._choose)
        self.resize(420, 360)

    def set_commands(self, commands: list[tuple[str, str]]) -> None:
        self.list.clear()
        for key, label in commands:
            item = QListWidgetItem(label, self.list)
            item.setData(Qt.ItemDataRole.UserRole, key)
        self.filter_box.clear()

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        first = None
        for row in range(self.list.count()):
            item = self.list.item(row)
            shown = all(w in item.text().lower() for w in words)
            item.setHidden(not shown)
            if shown and first is None:
                first = item
        if first is not None:
            self.list.setCurrentItem(first)

    def _choose_first(self) -> None:
        current = self.list.currentItem()
        shown = [self.list.item(r) for r in range(self.list.count())
                 if not self.list.item(r).isHidden()]
        item = current if current is not None and not current.isHidden() else \
            next(iter(shown), None)
        if item is not None:
            self._choose(item)

    def _choose(self, item: QListWidgetItem) -> None:
        self.accept()
        self.sig_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))


def style_sheet(c: theme.Colours) -> str:
    """The workspace's own rules, in the theme's colours; by object name, as theme.py's."""
    return f"""
#notesList {{ background: {c.surface}; border-right: 1px solid {c.border}; }}
#notesList QListView {{ background: transparent; border: none; outline: 0; }}
#notesList QLineEdit {{ background: {c.field}; border: 1px solid {c.border};
    border-radius: 8px; padding: 5px 8px; }}
#notesList QLineEdit:focus {{ border-color: {c.accent}; }}
QPushButton#newNote, QPushButton#askNotes {{ background: transparent; border: 1px solid
    {c.border}; border-radius: 8px; padding: 6px 10px; text-align: left; }}
QPushButton#askNotes {{ border-color: transparent; }}
QPushButton#newNote:hover, QPushButton#askNotes:hover {{ background: {c.hover}; }}
QLabel#notesCount {{ color: {c.dim}; padding: 0 8px; }}
#noteHeader {{ border-bottom: 1px solid {c.border}; }}
QLabel#noteTitle {{ font-weight: 600; }}
QToolButton#noteButton {{ border: none; border-radius: 8px; padding: 5px; }}
QToolButton#noteButton:hover {{ background: {c.hover}; }}
QToolButton#noteButton:checked {{ background: {c.border}; }}
QToolButton#actionsButton {{ border: 1px solid {c.border}; border-radius: 8px;
    padding: 4px 10px; }}
QToolButton#actionsButton:hover {{ background: {c.hover}; }}
QLabel#noteCounts {{ color: {c.dim}; }}
QLabel#emptyHint {{ color: {c.dim}; }}
NoteEditor, NotePreview {{ background: {c.window}; border: none; }}
#reviewCard {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 12px; }}
#reviewPane QTextBrowser, #reviewPane QListWidget {{ background: {c.window};
    border: 1px solid {c.border}; border-radius: 8px; padding: 4px; }}
#reviewPane QListWidget::item {{ padding: 3px 2px; }}
QLabel#reviewTitle {{ font-weight: 600; }}
#reviewPane QPushButton {{ background: {c.window}; border: 1px solid {c.border};
    border-radius: 8px; padding: 5px 14px; }}
#reviewPane QPushButton:hover {{ background: {c.hover}; }}
#reviewPane QPushButton#primaryButton {{ background: {c.accent}; color: {c.on_accent};
    border-color: {c.accent}; }}
#reviewPane QPushButton:disabled {{ color: {c.dim}; }}
"""


class NotesWorkspace(QWidget):
    """The notes room: the list on the left, the note on the right."""

    sig_pin = Signal(str, bool)
    """Pin (True) or unpin the note with this id (its row's menu)."""
    sig_export = Signal(str)
    """Export the note with this id (its row's menu)."""
    sig_delete = Signal(str)
    """Delete the note with this id, once confirmed (its row's menu)."""
    sig_move_to_project = Signal(str, str)
    """Move the note with this id into the project with this id ("": out of its project)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colours: theme.Colours | None = None
        self.projects: list[Project] = []
        # The list -------------------------------------------------------------------------
        self.list_pane = QWidget(self)
        self.list_pane.setObjectName("notesList")
        self.list_pane.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.search_box = QLineEdit(self.list_pane)
        self.search_box.setPlaceholderText("Search notes (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.new_button = QPushButton("New Note", self.list_pane)
        self.new_button.setObjectName("newNote")
        self.new_button.setToolTip("Start a new note")
        self.import_button = self._icon_button("file-up", "Import a .md or .txt file as a note",
                                               self.list_pane)
        self.ask_button = QPushButton("Ask My Notes…", self.list_pane)
        self.ask_button.setObjectName("askNotes")
        self.ask_button.setToolTip("Answer a question from your notes, with the notes it used")
        self.model = NoteListModel(self)
        self.list_view = QListView(self.list_pane)
        self.list_view.setModel(self.model)
        self.delegate = NoteDelegate(self.list_view)
        hover_rows(self.list_view, self.delegate, self)
        self.list_view.customContextMenuRequested.connect(self._row_menu_at)
        self.list_status = QLabel("", self.list_pane)
        self.list_status.setObjectName("notesCount")
        self.list_status.hide()
        new_row = QHBoxLayout()
        new_row.setSpacing(4)
        new_row.addWidget(self.new_button, 1)
        new_row.addWidget(self.import_button)
        left = QVBoxLayout(self.list_pane)
        left.setContentsMargins(8, 8, 4, 8)
        left.addWidget(self.search_box)
        left.addLayout(new_row)
        left.addWidget(self.ask_button)
        left.addWidget(self.list_status)
        left.addWidget(self.list_view, 1)
        self.list_pane.setMinimumWidth(200)

        # The header -----------------------------------------------------------------------
        self.header = QWidget(self)
        self.header.setObjectName("noteHeader")
        self.list_button = self._icon_button("panel-left", "Show or hide the notes list")
        self.title_label = QLabel("", self.header)
        self.title_label.setObjectName("noteTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setMinimumWidth(40)
        self.actions_button = QToolButton(self.header)
        self.actions_button.setObjectName("actionsButton")
        self.actions_button.setText("Writing Actions")
        self.actions_button.setToolTip("Rewrite, shorten, summarize… the selection or the "
                                       "whole note (Ctrl+J)")
        self.actions_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.actions_button.setIconSize(QSize(16, 16))
        # The menu opens on click, as setMenu's would; without setMenu Qt reserves no room
        # for an arrow the pill does not draw.
        self.actions_menu = QMenu(self.actions_button)
        self.actions_button.clicked.connect(lambda: self.actions_menu.exec(
            self.actions_button.mapToGlobal(self.actions_button.rect().bottomLeft())))
        self.preview_button = self._icon_button("eye", "Show the note rendered (Ctrl+Shift+P)")
        self.preview_button.setCheckable(True)
        self.pin_button = self._icon_button("pin", "Pin this note to the top of the list")
        self.pin_button.setCheckable(True)
        self.export_button = self._icon_button("download", "Export this note as a .md or .txt "
                                               "file")
        self.delete_button = self._icon_button("trash-2", "Delete this note")
        self.chat_button = self._icon_button("message-square", "Back to the chat "
                                             "(Ctrl+Shift+N)")
        header = QHBoxLayout(self.header)
        header.setContentsMargins(8, 6, 10, 6)
        header.setSpacing(4)
        header.addWidget(self.list_button)
        header.addSpacing(8)
        header.addWidget(self.title_label, 1)
        header.addWidget(self.actions_button)
        header.addSpacing(6)
        for button in (self.preview_button, self.pin_button, self.export_button,
                       self.delete_button):
            header.addWidget(button)
        header.addSpacing(6)
        header.addWidget(self.chat_button)

        # The note -------------------------------------------------------------------------
        self.editor = NoteEditor(self)
        self.preview = NotePreview(self)
        self.preview.setOpenLinks(False)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.editor)
        self.pages.addWidget(self.preview)
        self.counts = QLabel("", self)
        self.counts.setObjectName("noteCounts")
        self.counts.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.review = ReviewPane(self)
        self.empty_hint = QLabel("No note is open.\nChoose one on the left, or start a new "
                                 "one with New Note.", self)
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.editor_split = QSplitter(Qt.Orientation.Vertical, self)
        self.editor_split.addWidget(self.pages)
        self.editor_split.addWidget(self.review)
        self.editor_split.setChildrenCollapsible(False)
        self.editor_split.setStretchFactor(0, 1)
        self.editor_split.setStretchFactor(1, 1)
        note_column = QWidget(self)
        right = QVBoxLayout(note_column)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(self.header)
        right.addWidget(self.empty_hint, 1)
        right.addWidget(self.editor_split, 1)
        count_row = QHBoxLayout()
        count_row.setContentsMargins(12, 4, 16, 6)
        count_row.addStretch(1)
        count_row.addWidget(self.counts)
        right.addLayout(count_row)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.list_pane)
        self.splitter.addWidget(note_column)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 640])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.preview_button.toggled.connect(self.show_preview)
        self.list_button.clicked.connect(
            lambda: self.list_pane.setVisible(self.list_pane.isHidden()))
        self.restyle()
        self.show_note(False)

    def _icon_button(self, icon_name: str, tip: str, parent: QWidget | None = None
                     ) -> QToolButton:
        button = icons.icon_button(parent or self, icon_name, tip, "noteButton")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    # The theme ----------------------------------------------------------------------------

    def restyle(self) -> None:
        """Draw the workspace in the current theme's colours (and again when it changes)."""
        colours = theme.current()
        if colours == self._colours:
            return
        self._colours = colours
        self.setStyleSheet(style_sheet(colours))
        for button in self.findChildren(QToolButton, "noteButton"):
            button.setIcon(icons.icon(str(button.property("icon_name")), colours.dim,
                                      colours.border))
        self.actions_button.setIcon(icons.icon("sparkles", colours.accent, colours.dim))
        self.new_button.setIcon(icons.icon("square-pen", colours.text))
        self.ask_button.setIcon(icons.icon("sparkles", colours.accent))
        self.review.restyle(colours)
        self.editor.restyle()
        self.list_view.viewport().update()

    def changeEvent(self, event: QEvent) -> None:
        # theme.apply sets the application palette: every widget hears of it here.
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    # The list's rows ----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The row under the mouse shows a "…" button; a click on it opens the row's menu."""
        if watched is not self.list_view.viewport():
            return super().eventFilter(watched, event)
        follow_hover(self.list_view, self.delegate, event)
        index = more_button_pressed(self.list_view, self.delegate, event)
        if index is not None and isinstance(event, QMouseEvent):
            self.open_row_menu(index, self.list_view.viewport().mapToGlobal(
                event.position().toPoint()))
            return True
        return False

    def _row_menu_at(self, position: QPoint) -> None:
        index = self.list_view.indexAt(position)
        if index.isValid():
            self.open_row_menu(index, self.list_view.viewport().mapToGlobal(position))

    def open_row_menu(self, index: Index, at: QPoint) -> None:
        self.row_menu(index).exec(at)

    def row_menu(self, index: Index) -> QMenu:
        """One note's menu (the "…" button, or a right click)."""
        note_id = str(index.data(Roles.ID))
        pinned = bool(index.data(Roles.PINNED))
        damaged = bool(index.data(Roles.DAMAGED))
        menu = QMenu(self)
        pin = menu.addAction("Unpin" if pinned else "Pin to Top",
                             lambda: self.sig_pin.emit(note_id, not pinned))
        export = menu.addAction("Export…", lambda: self.sig_export.emit(note_id))
        if self.projects and not damaged:  # none yet: they are made in the chat's sidebar
            self._move_menu(menu, note_id, str(index.data(Roles.PROJECT) or ""))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.sig_delete.emit(note_id))
        for action in (pin, export):
            action.setEnabled(not damaged)
        return menu

    def _move_menu(self, menu: QMenu, note_id: str, current: str) -> None:
        """"Move to Project": each project (the note's own checked), or out of its project."""
        moves = menu.addMenu("Move to Project")
        for project in self.projects:
            action = moves.addAction(project.name, functools.partial(
                self.sig_move_to_project.emit, note_id, project.id))
            action.setCheckable(True)
            action.setChecked(project.id == current)
        if current:
            moves.addSeparator()
            moves.addAction("Remove from Project",
                            lambda: self.sig_move_to_project.emit(note_id, ""))

    def set_projects(self, projects: list[Project]) -> None:
        """The projects a note can be moved into, and whose headings the list shows."""
        self.projects = list(projects)
        current = self.list_view.currentIndex().data(Roles.ID)
        self.model.set_projects(self.projects)
        if current:
            self.select_note(str(current))

    def show_search_status(self, text: str) -> None:
        self.list_status.setText(text)
        self.list_status.setVisible(bool(text))

    # The note -----------------------------------------------------------------------------

    def show_note(self, shown: bool) -> None:
        """The editor (a note is open) or the hint (none is)."""
        self.editor_split.setVisible(shown)
        self.empty_hint.setVisible(not shown)
        self.counts.setVisible(shown)
        for button in (self.actions_button, self.preview_button, self.pin_button,
                       self.export_button, self.delete_button):
            button.setEnabled(shown)
        if not shown:
            self.show_title("")

    def show_title(self, title: str) -> None:
        self.title_label.setText(title)
        self.title_label.setToolTip(title)

    def show_pinned(self, pinned: bool) -> None:
        self.pin_button.setChecked(pinned)
        self.pin_button.setToolTip("Unpin this note" if pinned
                                   else "Pin this note to the top of the list")

    def show_preview(self, on: bool) -> None:
        if on:
            self.preview.document().setMarkdown(self.editor.toPlainText(), MARKDOWN)
        self.pages.setCurrentWidget(self.preview if on else self.editor)
        if self.preview_button.isChecked() != on:
            self.preview_button.setChecked(on)

    def show_counts(self, words: int, chars: int) -> None:
        self.counts.setText(f"{words:,} word{'s' if words != 1 else ''} · "
                            f"{chars:,} character{'s' if chars != 1 else ''}")

    def select_note(self, note_id: str) -> None:
        row = self.model.row_of(note_id)
        if row >= 0:
            self.list_view.setCurrentIndex(self.model.index(row))
