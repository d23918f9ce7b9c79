"""The sidebar: conversations (pinned first, then newest) and full-text search results."""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDropEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from cove.core.presets import ConversationSettings
from cove.core.projects import Project
from cove.core.units import date_group
from cove.ui import icons, theme
from cove.ui.history.search_results import UNTITLED, SearchHitDelegate, SearchResultModel
from cove.ui.hover import follow_hover, hover_rows, more_button_pressed

if TYPE_CHECKING:  # the store pulls in the keyring and cryptography: not before first paint
    from cove.storage.search import SearchHit
    from cove.storage.store import ConversationSummary

Index = QModelIndex | QPersistentModelIndex
WRITING = "writing…"  # beside a conversation a reply is being written into
DAMAGED_TITLE = "Damaged conversation"


class ConversationRoles(enum.IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1
    TITLE = enum.auto()
    PINNED = enum.auto()
    UPDATED = enum.auto()
    COUNT = enum.auto()
    DAMAGED = enum.auto()
    SUMMARY = enum.auto()
    GROUP = enum.auto()  # the heading it sits under: "Pinned", "Today", "Yesterday", …
    PROJECT = enum.auto()  # the id of the project the row is (a heading) or is in; "" for none
    HEADING = enum.auto()  # True for a project's heading row


CONVERSATION_MIME = "application/x-cove-conversation"  # a drag carries an id, never text


def display_title(summary: ConversationSummary) -> str:
    if summary.damaged:
        return DAMAGED_TITLE
    return summary.title or UNTITLED


def _project_named(settings: str) -> str:
    """The project a conversation's settings JSON names (most name none: no parsing)."""
    if "project" not in settings:
        return ""
    return ConversationSettings.from_json(settings).project


class ConversationListModel(QAbstractListModel):
    """ConversationSummary rows in sidebar order: each project's heading row (a Project) with
    its conversations under it, then the rest, pinned first, then newest. A folded project's
    rows stay in the model; the view hides them."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ConversationSummary | Project] = []
        self._projects: dict[str, Project] = {}
        self._place: dict[str, int] = {}  # project id -> its place among the projects
        self._named: dict[str, str] = {}  # conversation id -> the project its settings name
        self._counts: dict[str, int] | None = None  # conversations per project, once asked

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        summary = self._rows[index.row()]
        if isinstance(summary, Project):
            return self._heading_data(summary, role)
        if role == Qt.ItemDataRole.DisplayRole:
            return ("★ " if summary.pinned else "") + display_title(summary)
        if role == Qt.ItemDataRole.ToolTipRole:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated))
            return f"{summary.message_count} messages · last {when}"
        if role == Qt.ItemDataRole.FontRole and summary.damaged:
            font = QFont()
            font.setItalic(True)
            return font
        return {
            ConversationRoles.ID: summary.id,
            ConversationRoles.TITLE: summary.title,
            ConversationRoles.PINNED: summary.pinned,
            ConversationRoles.UPDATED: summary.updated,
            ConversationRoles.COUNT: summary.message_count,
            ConversationRoles.DAMAGED: summary.damaged,
            ConversationRoles.SUMMARY: summary,
            ConversationRoles.GROUP: self.group_of(summary),
            ConversationRoles.PROJECT: self.project_of(summary),
            ConversationRoles.HEADING: False,
        }.get(role)  # type: ignore[call-overload]

    def _heading_data(self, project: Project, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return project.name
        if role == Qt.ItemDataRole.ToolTipRole:
            count = self.count_in(project.id)
            return (f"Project · {count} conversation{'' if count == 1 else 's'} · click to "
                    f"{'show' if project.folded else 'hide'} them")
        return {ConversationRoles.ID: "", ConversationRoles.PROJECT: project.id,
                ConversationRoles.HEADING: True, ConversationRoles.GROUP: project.name,
                ConversationRoles.COUNT: self.count_in(project.id),
                }.get(role)  # type: ignore[call-overload]

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if not index.isValid() or index.row() >= len(self._rows):
            return flags
        if isinstance(self._rows[index.row()], Project):  # a drop target, not a choice
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDropEnabled
        return flags | Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemIsDropEnabled

    def mimeTypes(self) -> list[str]:
        return [CONVERSATION_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        data = QMimeData()
        ids = [index.data(ConversationRoles.ID) for index in indexes if index.isValid()]
        if ids and ids[0]:
            data.setData(CONVERSATION_MIME, QByteArray(ids[0].encode("ascii")))
        return data

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def project_of(self, summary: ConversationSummary) -> str:
        """The id of the project the conversation is in ("": none, or one since deleted)."""
        named = self._named.get(summary.id, "")
        return named if named in self._projects else ""

    def group_of(self, summary: ConversationSummary) -> str:
        project = self._projects.get(self.project_of(summary))
        if project is not None:
            return project.name
        return "Pinned" if summary.pinned else date_group(summary.updated, time.time())

    def starts_group(self, row: int) -> bool:
        """Whether a date heading goes above this row: the first of its group (a project's
        conversations sit under the project's own heading row instead)."""
        if not 0 <= row < len(self._rows):
            return False
        entry = self._rows[row]
        if isinstance(entry, Project) or self.project_of(entry):
            return False
        before = self._rows[row - 1] if row else None
        return (before is None or isinstance(before, Project) or bool(self.project_of(before))
                or self.group_of(before) != self.group_of(entry))

    def _key(self, entry: ConversationSummary | Project) -> tuple[int, int, int, bool, float]:
        """Projects first (each heading, then its conversations), then the rest."""
        if isinstance(entry, Project):
            return (0, self._place[entry.id], 0, False, 0.0)
        pinned, newest = entry.sidebar_order()
        project = self.project_of(entry)
        if project:
            return (0, self._place[project], 1, pinned, newest)
        return (1, 0, 1, pinned, newest)

    def set_all(self, summaries: list[ConversationSummary]) -> None:
        self._named = {s.id: _project_named(s.settings) for s in summaries if s.settings}
        self._arrange(summaries)

    def _arrange(self, summaries: list[ConversationSummary]) -> None:
        self._counts = None
        self.beginResetModel()
        self._rows = sorted([*self._projects.values(), *summaries], key=self._key)
        self.endResetModel()

    def set_projects(self, projects: list[Project]) -> None:
        """The projects, in the order their headings go (see core.projects.sorted_projects)."""
        summaries = [row for row in self._rows if not isinstance(row, Project)]
        self._projects = {project.id: project for project in projects}
        self._place = {project.id: place for place, project in enumerate(projects)}
        self._arrange(summaries)

    def projects(self) -> list[Project]:
        return sorted(self._projects.values(), key=lambda project: self._place[project.id])

    def project(self, project_id: str) -> Project | None:
        return self._projects.get(project_id)

    def project_at(self, row: int) -> Project | None:
        """The project whose heading this row is, if it is one."""
        entry = self._rows[row] if 0 <= row < len(self._rows) else None
        return entry if isinstance(entry, Project) else None

    def heading_row(self, project_id: str) -> int:
        return next((row for row, entry in enumerate(self._rows)
                     if isinstance(entry, Project) and entry.id == project_id), -1)

    def ids_in(self, project_id: str) -> list[str]:
        """The conversations in a project, in sidebar order."""
        return [entry.id for entry in self._rows
                if not isinstance(entry, Project) and self.project_of(entry) == project_id]

    def count_in(self, project_id: str) -> int:
        """How many conversations a project holds (its heading shows it at every paint)."""
        if self._counts is None:
            self._counts = {}
            for entry in self._rows:
                project = "" if isinstance(entry, Project) else self.project_of(entry)
                self._counts[project] = self._counts.get(project, 0) + 1
        return self._counts.get(project_id, 0)

    def folded_at(self, row: int) -> bool:
        """Whether this row is a conversation of a folded project (the view hides it)."""
        entry = self._rows[row] if 0 <= row < len(self._rows) else None
        if entry is None or isinstance(entry, Project):
            return False
        project = self._projects.get(self.project_of(entry))
        return project is not None and project.folded

    def set_folded(self, project_id: str, folded: bool) -> None:
        project, row = self._projects.get(project_id), self.heading_row(project_id)
        if project is None or row < 0:
            return
        self._projects[project_id] = self._rows[row] = replace(project, folded=folded)
        self.dataChanged.emit(self.index(row, 0), self.index(row, 0),
                              [Qt.ItemDataRole.ToolTipRole])

    def row_of(self, conversation_id: str) -> int:
        return next((row for row, s in enumerate(self._rows)
                     if not isinstance(s, Project) and s.id == conversation_id), -1)

    def summary(self, row: int) -> ConversationSummary:
        entry = self._rows[row]
        if isinstance(entry, Project):
            raise IndexError(f"row {row} is the heading of a project")
        return entry

    def upsert(self, summary: ConversationSummary) -> None:
        """Add or update one conversation and move it to where the order says."""
        before = self._named.get(summary.id, "")
        self.remove(summary.id)
        self._named[summary.id] = _project_named(summary.settings)
        key = self._key(summary)
        row = next((r for r, s in enumerate(self._rows) if self._key(s) > key),
                   len(self._rows))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, summary)
        self.endInsertRows()
        self._count_changed(before, self._named[summary.id])

    def remove(self, conversation_id: str) -> None:
        row = self.row_of(conversation_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
            self._count_changed(self._named.pop(conversation_id, ""))

    def _count_changed(self, *project_ids: str) -> None:
        """A project heading's count (its tooltip) changed."""
        self._counts = None
        for project_id in set(project_ids):
            row = self.heading_row(project_id) if project_id in self._projects else -1
            if row >= 0:
                self.dataChanged.emit(self.index(row, 0), self.index(row, 0),
                                      [Qt.ItemDataRole.ToolTipRole, ConversationRoles.COUNT])


class GroupedDelegate(QStyledItemDelegate):
    """Draws a small heading ("Today", "Pinned", …) above the first conversation of each
    group; the list stays one flat model, so selection and keyboard work as before."""

    HEADING_GAP = 10

    def _heading_height(self, option: QStyleOptionViewItem) -> int:
        return option.fontMetrics.height() + self.HEADING_GAP

    ROW_PADDING = 8  # a row you can hit without aiming

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        size = super().sizeHint(option, index)
        size.setHeight(size.height() + self.ROW_PADDING)
        model = index.model()
        if isinstance(model, ConversationListModel) and model.starts_group(index.row()):
            size.setHeight(size.height() + self._heading_height(option))
        return size

    MORE = 22  # the "…" button on the row under the mouse

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hovered_row = -1
        self.writing_id = ""  # the conversation a reply is being written into
        self.drop_row = -1  # the row a dragged conversation would be dropped on

    def item_rect(self, option_rect: QRect, index: Index) -> QRect:
        """The row itself, below its heading if it has one."""
        model = index.model()
        if isinstance(model, ConversationListModel) and model.starts_group(index.row()):
            height = QFontMetrics(self.parent().font()).height() + self.HEADING_GAP
            return option_rect.adjusted(0, height, 0, 0)
        return option_rect

    def more_rect(self, option_rect: QRect, index: Index) -> QRect:
        """Where the "…" button of a row is drawn (and clicked)."""
        item = self.item_rect(option_rect, index)
        return QRect(item.right() - self.MORE - 4, item.center().y() - self.MORE // 2 + 1,
                     self.MORE, self.MORE)

    def plus_rect(self, option_rect: QRect, index: Index) -> QRect:
        """Where a project heading's "+" (a new chat in the project) is drawn and clicked."""
        return self.more_rect(option_rect, index).translated(-self.MORE - 2, 0)

    INDENT = 14  # a project's conversations sit in from its heading

    def _paint_heading(self, painter: QPainter, option: QStyleOptionViewItem,
                       index: Index) -> None:
        """A project's heading row: a fold arrow, its name in bold and how many conversations
        it holds; under the mouse, "+" (a new chat in it) and "…" (its menu)."""
        colours = theme.current()
        row = index.row()
        hovered, target = row == self.hovered_row, row == self.drop_row
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if hovered or target:
            painter.setPen(QColor(colours.accent) if target else Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.hover))
            painter.drawRoundedRect(option.rect.adjusted(2, 1, -2, -1), 8, 8)
        model = index.model()
        project = model.project_at(row) if isinstance(model, ConversationListModel) else None
        folded = project is not None and project.folded
        arrow = QRect(option.rect.left() + 8, option.rect.center().y() - 7, 14, 14)
        painter.drawPixmap(arrow, icons.pixmap("chevron-right" if folded else "chevron-down",
                                               colours.dim))
        text = option.rect.adjusted(arrow.right() - option.rect.left() + 6, 0, -8, 0)
        centred = int(Qt.AlignmentFlag.AlignVCenter)
        if hovered:
            text.setRight(self.plus_rect(option.rect, index).left() - 4)
            for name, rect in (("plus", self.plus_rect(option.rect, index)),
                               ("ellipsis", self.more_rect(option.rect, index))):
                painter.drawPixmap(rect.adjusted(3, 3, -3, -3), icons.pixmap(name, colours.dim))
        else:
            count = str(index.data(ConversationRoles.COUNT) or 0)
            painter.setPen(QColor(colours.dim))
            painter.drawText(text, centred | int(Qt.AlignmentFlag.AlignRight), count)
            text.setRight(text.right() - option.fontMetrics.horizontalAdvance(count) - 8)
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(colours.text))
        name = QFontMetrics(font).elidedText(str(index.data()), Qt.TextElideMode.ElideRight,
                                             text.width())
        painter.drawText(text, centred | int(Qt.AlignmentFlag.AlignLeft), name)
        painter.restore()

    def _paint_item(self, painter: QPainter, option: QStyleOptionViewItem,
                    index: Index) -> None:
        from PySide6.QtWidgets import QStyle

        colours = theme.current()
        hovered = index.row() == self.hovered_row
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        item = QStyleOptionViewItem(option)
        # The row's own background: quiet for hover and selection, as chat apps draw them.
        item.state &= ~QStyle.StateFlag.State_Selected
        item.state &= ~QStyle.StateFlag.State_MouseOver
        if selected or hovered:
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.hover if hovered and not selected
                                    else colours.border))
            painter.drawRoundedRect(option.rect.adjusted(2, 1, -2, -1), 8, 8)
            painter.restore()
        writing = bool(self.writing_id) and index.data(ConversationRoles.ID) == self.writing_id
        label_width = option.fontMetrics.horizontalAdvance(WRITING) + 10 if writing else 0
        item.rect = option.rect.adjusted(
            6, 0, -(self.MORE + 6) if hovered else -(6 + label_width), 0)
        if index.data(ConversationRoles.PROJECT):
            item.rect.adjust(self.INDENT, 0, 0, 0)
        super().paint(painter, item, index)
        if writing and not hovered:
            painter.save()
            painter.setPen(QColor(colours.accent))
            painter.drawText(option.rect.adjusted(0, 0, -8, 0),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             WRITING)
            painter.restore()
        if hovered:
            more = QRect(option.rect.right() - self.MORE - 4,
                         option.rect.center().y() - self.MORE // 2 + 1, self.MORE, self.MORE)
            painter.drawPixmap(more.adjusted(3, 3, -3, -3),
                               icons.pixmap("ellipsis", colours.dim))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if index.data(ConversationRoles.HEADING):
            self._paint_heading(painter, option, index)
            return
        model = index.model()
        if not (isinstance(model, ConversationListModel) and model.starts_group(index.row())):
            self._paint_item(painter, option, index)
            return
        heading = self._heading_height(option)
        painter.save()
        font = QFont(option.font)
        font.setBold(True)
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        text_rect = QRect(option.rect.left() + 8, option.rect.top() + self.HEADING_GAP // 2,
                          option.rect.width() - 12, heading - self.HEADING_GAP // 2)
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft
                                        | Qt.AlignmentFlag.AlignVCenter),
                         str(index.data(ConversationRoles.GROUP)))
        painter.restore()
        item = QStyleOptionViewItem(option)
        item.rect = option.rect.adjusted(0, heading, 0, 0)
        self._paint_item(painter, item, index)


# One set of shortcuts for the conversation actions: the Chat and File menus use them, and
# the sidebar's context menu shows them.
MENU_SHORTCUTS = {"rename": "F2", "pin": "Ctrl+P", "export": "Ctrl+E", "delete": "Ctrl+Delete"}


class Sidebar(QWidget):
    sig_open = Signal(object)
    """Open this ConversationSummary."""
    sig_new = Signal()
    """Start a new conversation."""
    sig_rename = Signal(str)
    """Rename the conversation with this id."""
    sig_delete = Signal(str)
    """Delete the conversation with this id (after confirmation)."""
    sig_pin = Signal(str, bool)
    """Pin (True) or unpin the conversation with this id."""
    sig_export = Signal(str)
    """Export the conversation with this id."""
    sig_search = Signal(str)
    """Search all messages for this text (empty: leave search)."""
    sig_open_hit = Signal(object)
    """Open the conversation of this SearchHit at its message (a note's hit: the note)."""
    sig_new_project = Signal(str)
    """Make a new project (and move the conversation with this id into it, unless "")."""
    sig_new_in_project = Signal(str)
    """Start a new conversation in the project with this id."""
    sig_edit_project = Signal(str)
    """Open the settings of the project with this id."""
    sig_rename_project = Signal(str)
    """Rename the project with this id."""
    sig_delete_project = Signal(str)
    """Delete the project with this id (after confirmation); its conversations stay."""
    sig_move_to_project = Signal(str, str)
    """Move the conversation (first id) into the project (second id; "": out of projects)."""
    sig_project_folded = Signal(str, bool)
    """The project with this id was folded (True) or unfolded in the sidebar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText("Search messages and notes (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.new_button = QPushButton("New Chat", self)
        self.new_button.setObjectName("newChat")
        self.new_button.setToolTip("New conversation (Ctrl+N)")
        self.model = ConversationListModel(self)
        self.list = QListView(self)
        self.list.setModel(self.model)
        self.delegate = GroupedDelegate(self.list)
        hover_rows(self.list, self.delegate, self)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # A conversation dragged onto a project's heading (or its rows) moves into it; onto
        # the others, out of its project. The drops are handled in _list_event.
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.model.rowsInserted.connect(lambda _parent, first, last: self._fold(first, last))
        self.model.modelReset.connect(lambda: self._fold(0, self.model.rowCount() - 1))
        self.results = SearchResultModel(self)
        # The last search's hits and their titles: the messages', and the notes' (if any).
        self._message_hits: tuple[list[SearchHit], dict[str, str]] = ([], {})
        self._note_hits: tuple[list[SearchHit], dict[str, str]] = ([], {})
        self.result_list = QListView(self)
        self.result_list.setModel(self.results)
        self.result_list.setItemDelegate(SearchHitDelegate(self.result_list))
        self.result_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.result_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.result_list.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addWidget(self.search_box)
        layout.addWidget(self.new_button)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.result_list, 1)
        self.setMinimumWidth(200)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)  # search once typing pauses
        self._search_timer.timeout.connect(self._search_now)
        self.search_box.textChanged.connect(lambda _text: self._search_timer.start())
        self.search_box.installEventFilter(self)
        self.new_button.clicked.connect(self.sig_new)
        self.list.activated.connect(self._open_index)
        self.list.clicked.connect(self._open_index)
        self.list.customContextMenuRequested.connect(self._menu)
        self.result_list.activated.connect(self._open_hit)
        self.result_list.clicked.connect(self._open_hit)

    def set_writing(self, conversation_id: str) -> None:
        """Mark the conversation a reply is being written into ("" for none)."""
        self.delegate.writing_id = conversation_id
        self.list.viewport().update()

    def restyle(self) -> None:
        self.new_button.setIcon(icons.icon("square-pen", theme.current().text))
        self.list.viewport().update()

    def _list_event(self, event: QEvent) -> bool:
        """The row under the mouse shows a "…" button; a click on it opens the row's menu."""
        follow_hover(self.list, self.delegate, event)
        pressed = more_button_pressed(self.list, self.delegate, event)
        if pressed is not None and isinstance(event, QMouseEvent):
            position = event.position().toPoint()
            self.context_menu(pressed).exec(self.list.viewport().mapToGlobal(position))
            return True
        if (event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent)
                and event.button() == Qt.MouseButton.LeftButton):
            position = event.position().toPoint()
            index = self.list.indexAt(position)
            if index.data(ConversationRoles.HEADING):  # "+" starts a chat in it; else fold
                project_id = index.data(ConversationRoles.PROJECT)
                if self.delegate.plus_rect(self.list.visualRect(index), index).contains(
                        position):
                    self.sig_new_in_project.emit(project_id)
                else:
                    self.toggle_fold(project_id)
                return True
        elif event.type() == QEvent.Type.MouseButtonDblClick:
            return bool(self.list.indexAt(event.position().toPoint()).data(
                ConversationRoles.HEADING))
        elif event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove,
                              QEvent.Type.DragLeave, QEvent.Type.Drop):
            return self._drag_event(event)
        return False

    def _drag_event(self, event: QEvent) -> bool:
        """A conversation dragged over the list: the heading of the project it would move
        into is marked; dropped there (or on a row of that project) it moves in, dropped on
        a conversation outside the projects (or below them all) it moves out."""
        if not isinstance(event, QDropEvent):  # DragLeave
            self._mark_drop(-1)
            return False
        if not event.mimeData().hasFormat(CONVERSATION_MIME):
            return False  # files and text: the window's, as before
        index = self.list.indexAt(event.position().toPoint())
        target = str(index.data(ConversationRoles.PROJECT) or "") if index.isValid() else ""
        if event.type() == QEvent.Type.Drop:
            self._mark_drop(-1)
            raw = bytes(event.mimeData().data(CONVERSATION_MIME).data())
            conversation_id = raw.decode("ascii", "replace")
            row = self.model.row_of(conversation_id)
            if row >= 0 and self.model.project_of(self.model.summary(row)) != target:
                self.sig_move_to_project.emit(conversation_id, target)
        else:
            self._mark_drop(self.model.heading_row(target) if target else -1)
        event.setDropAction(Qt.DropAction.MoveAction)
        event.accept()
        return True

    def _mark_drop(self, row: int) -> None:
        if row != self.delegate.drop_row:
            self.delegate.drop_row = row
            self.list.viewport().update()

    def set_projects(self, projects: list[Project]) -> None:
        """Show these projects (in this order) above the date groups."""
        current = self.current_id()
        self.model.set_projects(projects)
        self.select(current)

    def toggle_fold(self, project_id: str) -> None:
        """Fold a project's heading (its conversations hidden) or unfold it."""
        project = self.model.project(project_id)
        if project is None:
            return
        self.model.set_folded(project_id, not project.folded)
        first = self.model.heading_row(project_id) + 1
        for row in range(first, first + len(self.model.ids_in(project_id))):
            self.list.setRowHidden(row, not project.folded)
        self.sig_project_folded.emit(project_id, not project.folded)

    def _fold(self, first: int, last: int) -> None:
        """Hide the new rows that belong to a folded project (they stay in the model)."""
        if not any(project.folded for project in self.model.projects()):
            return
        for row in range(first, last + 1):
            if self.model.folded_at(row):
                self.list.setRowHidden(row, True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Esc in the search box clears it (before the window's Esc, Stop Reply, sees it)."""
        if watched is self.list.viewport():
            return self._list_event(event) or super().eventFilter(watched, event)
        if watched is self.search_box and self.search_box.text():
            is_escape = (event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
                         and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape)
            if is_escape:
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    self.search_box.clear()
                return True
        return super().eventFilter(watched, event)

    def current_id(self) -> str:
        index = self.list.currentIndex()
        return index.data(ConversationRoles.ID) if index.isValid() else ""

    def select(self, conversation_id: str, reveal: bool = False) -> None:
        """Mark a conversation's row; `reveal` (it was just opened) unfolds its project."""
        row = self.model.row_of(conversation_id)
        if row >= 0:
            if reveal and self.model.folded_at(row):
                self.toggle_fold(self.model.project_of(self.model.summary(row)))
            self.list.setCurrentIndex(self.model.index(row, 0))
        else:
            self.list.clearSelection()
            self.list.setCurrentIndex(QModelIndex())

    def show_results(self, hits: list[SearchHit]) -> None:
        titles = {}
        for hit in hits:
            row = self.model.row_of(hit.conversation_id)
            if row >= 0:
                titles[hit.conversation_id] = display_title(self.model.summary(row))
        self._message_hits = (hits, titles)
        self._show_all_results()

    def show_note_hits(self, hits: list[SearchHit], titles: dict[str, str]) -> None:
        """The notes' hits for the same search, listed after the messages'; each hit's
        conversation id names its note (`titles` by those ids). The notes open them."""
        self._note_hits = (hits, titles)
        self._show_all_results()

    def _show_all_results(self) -> None:
        (messages, message_titles), (notes, note_titles) = self._message_hits, self._note_hits
        self.results.set_hits([*messages, *notes], {**message_titles, **note_titles})
        searching = bool(self.search_box.text().strip())
        self.result_list.setVisible(searching)
        self.list.setVisible(not searching)
        found = [f"{len(messages)} message{'s' if len(messages) != 1 else ''}"] if messages \
            else []
        found += [f"{len(notes)} note{'s' if len(notes) != 1 else ''}"] if notes else []
        self.set_status(f"{' and '.join(found)} found" if searching and found else
                        "No message contains that." if searching else "")

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _search_now(self) -> None:
        query = self.search_box.text().strip()
        if not query:
            self.result_list.hide()
            self.list.show()
            self.set_status("")
        self.sig_search.emit(query)

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid() and index.data(ConversationRoles.HEADING):
            self.toggle_fold(index.data(ConversationRoles.PROJECT))  # Enter on a heading
        elif index.isValid():
            self.sig_open.emit(index.data(ConversationRoles.SUMMARY))

    def _open_hit(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_open_hit.emit(index.data(Qt.ItemDataRole.UserRole))

    def _menu(self, position: QPoint) -> None:
        index = self.list.indexAt(position)
        if index.isValid():
            menu = self.context_menu(index)
        else:  # below the conversations
            menu = QMenu(self)
            menu.addAction("New Project…", lambda: self.sig_new_project.emit(""))
        menu.exec(self.list.viewport().mapToGlobal(position))

    def project_menu(self, project_id: str) -> QMenu:
        """The menu of a project's heading."""
        menu = QMenu(self)
        menu.addAction("New Chat in Project", lambda: self.sig_new_in_project.emit(project_id))
        menu.addAction("Project Settings…", lambda: self.sig_edit_project.emit(project_id))
        menu.addAction("Rename Project…", lambda: self.sig_rename_project.emit(project_id))
        menu.addSeparator()
        menu.addAction("Delete Project…", lambda: self.sig_delete_project.emit(project_id))
        return menu

    def _move_menu(self, menu: QMenu, conversation_id: str, current: str) -> QMenu:
        """"Move to Project": each project, out of its project, or into a new one."""
        moves = QMenu("Move to Project", menu)
        for project in self.model.projects():
            action = moves.addAction(project.name, functools.partial(
                self.sig_move_to_project.emit, conversation_id, project.id))
            action.setCheckable(True)
            action.setChecked(project.id == current)
        if current:
            moves.addAction("Remove from Project",
                            lambda: self.sig_move_to_project.emit(conversation_id, ""))
        moves.addSeparator()
        moves.addAction("New Project…", lambda: self.sig_new_project.emit(conversation_id))
        return moves

    def context_menu(self, index: QModelIndex) -> QMenu:
        """The right-click menu of one conversation (or of a project's heading)."""
        if index.data(ConversationRoles.HEADING):
            return self.project_menu(index.data(ConversationRoles.PROJECT))
        conversation_id = index.data(ConversationRoles.ID)
        pinned = bool(index.data(ConversationRoles.PINNED))
        damaged = bool(index.data(ConversationRoles.DAMAGED))
        menu = QMenu(self)
        # The shortcuts shown are the Chat menu's own (MENU_SHORTCUTS), so the two agree.
        rename = menu.addAction("Rename…", lambda: self.sig_rename.emit(conversation_id))
        pin = menu.addAction("Unpin" if pinned else "Pin to Top",
                             lambda: self.sig_pin.emit(conversation_id, not pinned))
        export = menu.addAction("Export as Markdown…",
                                lambda: self.sig_export.emit(conversation_id))
        menu.addSeparator()
        delete = menu.addAction("Delete…", lambda: self.sig_delete.emit(conversation_id))
        for action, name in ((rename, "rename"), (pin, "pin"), (export, "export"),
                             (delete, "delete")):
            action.setShortcut(QKeySequence(MENU_SHORTCUTS[name]))
        for action in (rename, pin, export):
            action.setEnabled(not damaged)
        if not damaged:
            menu.insertMenu(export, self._move_menu(
                menu, conversation_id, index.data(ConversationRoles.PROJECT)))
        return menu
