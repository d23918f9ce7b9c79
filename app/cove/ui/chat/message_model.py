"""The Qt list model of one conversation's messages (GUI thread only)."""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from cove.core.conversation import Conversation, Message, MessageState, Role

Index = QModelIndex | QPersistentModelIndex


class Roles(enum.IntEnum):
    ROLE = Qt.ItemDataRole.UserRole + 1  # "user" / "assistant" / "system"
    TEXT = enum.auto()
    MODEL = enum.auto()
    STATE = enum.auto()
    STATS = enum.auto()
    ERROR = enum.auto()
    ID = enum.auto()
    CREATED = enum.auto()  # seconds since the epoch
    VERSIONS = enum.auto()  # (this one, how many) when a message has other versions; else None
    LAST = enum.auto()  # the newest message shown
    CONTINUABLE = enum.auto()  # the newest reply, cut short (stopped, or at the length limit)


class MessageListModel(QAbstractListModel):
    """Shows a Conversation; edits go through the methods below so views hear exact roles."""

    def __init__(self, conversation: Conversation | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._conversation = conversation or Conversation()
        self.length_limit = 1 << 30  # a reply this long stopped at the limit (the controller's)

    @property
    def conversation(self) -> Conversation:
        return self._conversation

    def set_conversation(self, conversation: Conversation) -> None:
        self.beginResetModel()
        self._conversation = conversation
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._conversation.messages)

    def roleNames(self) -> dict[int, bytes]:
        return {role.value: role.name.lower().encode() for role in Roles}

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._conversation.messages):
            return None
        message = self._conversation.messages[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Roles.TEXT):
            return message.text
        if role == Roles.ROLE:
            return message.role.value
        if role == Roles.MODEL:
            return message.model
        if role == Roles.STATE:
            return message.state.value
        if role == Roles.STATS:
            return message.stats
        if role == Roles.CREATED:
            return message.created
        if role == Roles.VERSIONS:
            versions = self._conversation.alternatives(message)
            return (versions.index(message) + 1, len(versions)) if len(versions) > 1 else None
        if role == Roles.LAST:
            return index.row() == len(self._conversation.messages) - 1
        if role == Roles.CONTINUABLE:
            return (index.row() == len(self._conversation.messages) - 1
                    and message.role is Role.ASSISTANT and bool(message.text)
                    and (message.state is MessageState.STOPPED
                         or (message.state is MessageState.DONE and message.stats is not None
                             and message.stats.tokens >= self.length_limit)))
        if role == Roles.ERROR:
            return message.error
        if role == Roles.ID:
            return message.id
        return None

    def message(self, row: int) -> Message:
        return self._conversation.messages[row]

    def row_of(self, message_id: str) -> int:
        return next((row for row, m in enumerate(self._conversation.messages)
                     if m.id == message_id), -1)

    def prepend(self, messages: list[Message]) -> None:
        """Older messages loaded later (when the user scrolls up)."""
        if not messages:
            return
        conversation = self._conversation
        shown = list(conversation.messages)
        conversation.prepend(messages)
        added = len(conversation.messages) - len(shown)
        if added > 0 and conversation.messages[added:] == shown:
            # The usual case: the older messages go above what is shown.
            conversation.messages = shown
            self.beginInsertRows(QModelIndex(), 0, added - 1)
            conversation.messages = conversation.path_to(conversation.leaf)
            self.endInsertRows()
        else:  # a branch reached into the older part: show the whole path again
            self.beginResetModel()
            self.endResetModel()

    def append(self, message: Message) -> int:
        row = len(self._conversation.messages)
        self.beginInsertRows(QModelIndex(), row, row)
        self._conversation.add(message)
        self.endInsertRows()
        return row

    def remove_last(self, count: int) -> list[Message]:
        """Take the newest `count` messages off the conversation (a refused message and the
        reply that never came); returns them."""
        messages = self._conversation.messages
        count = min(count, len(messages))
        if count <= 0:
            return []
        first = len(messages) - count
        self.beginRemoveRows(QModelIndex(), first, len(messages) - 1)
        taken = messages[first:]
        self._conversation.remove(taken)
        self.endRemoveRows()
        return taken

    def show_path(self) -> None:
        """The conversation's shown branch changed (another version chosen, or a branch
        started): show it again."""
        self.beginResetModel()
        self.endResetModel()

    def append_text(self, row: int, text: str) -> None:
        self._conversation.messages[row].text += text
        self._changed(row, Roles.TEXT, Qt.ItemDataRole.DisplayRole)

    def finish(self, row: int, state: MessageState, stats: Any = None, error: str = "") -> None:
        message = self._conversation.messages[row]
        message.state = state
        roles = [Roles.STATE]
        if stats is not None:
            message.stats = stats
            roles.append(Roles.STATS)
        if error:
            message.error = error
            roles.append(Roles.ERROR)
        self._changed(row, *roles)

    def _changed(self, row: int, *roles: int) -> None:
        index = self.index(row, 0)
        self.dataChanged.emit(index, index, [int(role) for role in roles])
