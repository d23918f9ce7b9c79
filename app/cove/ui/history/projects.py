"""Projects in the window: the sidebar's project headings and menus, moving conversations in
and out, a new chat inside a project, and the project's settings dialog (name, system prompt,
model). The list is kept sealed in the history as the preference record "projects"."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from cove.core.conversation import Conversation
from cove.core.presets import ConversationSettings
from cove.core.projects import (
    RECORD,
    Project,
    projects_from_json,
    projects_to_json,
    sorted_projects,
)
from cove.storage.store import ConversationStore, ConversationSummary, NotFound
from cove.ui.history.session import HistorySession, HistoryState, storage_error_message

if TYPE_CHECKING:
    from cove.models.registry import ModelRegistry
    from cove.ui.chat.window import MainWindow

log = logging.getLogger(__name__)

ANY_MODEL = "The model in use"


class ProjectDialog(QDialog):
    """A project's name, default system prompt and model (one of the installed models)."""

    def __init__(self, project: Project | None, models: list[tuple[str, str]],
                 parent: QWidget | None = None) -> None:
        """`models`: (id, name) of each installed model."""
        super().__init__(parent)
        self.setWindowTitle("Project Settings" if project else "New Project")
        self.resize(560, 440)
        before = project or Project("", "")
        self.name = QLineEdit(before.name, self)
        self.name.setPlaceholderText("Name of the project")
        self.prompt = QPlainTextEdit(before.system_prompt, self)
        self.prompt.setTabChangesFocus(True)
        self.prompt.setPlaceholderText("Instructions the model sees in this project's "
                                       "conversations (empty: the model's own)")
        self.prompt.setMinimumHeight(140)
        self.model = QComboBox(self)
        self.model.addItem(ANY_MODEL, "")
        for model_id, name in models:
            self.model.addItem(name, model_id)
        if before.model_id and self.model.findData(before.model_id) < 0:
            self.model.addItem("A model no longer installed", before.model_id)
        self.model.setCurrentIndex(max(0, self.model.findData(before.model_id)))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("System prompt:", self.prompt)
        form.addRow("Model:", self.model)
        note = QLabel("New chats in this project start with its model; its system prompt is "
                      "used unless a conversation has its own preset or prompt. Kept "
                      "encrypted with your history.", self)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.name.text().strip()))
        ok.setToolTip("" if ok.isEnabled() else "Give the project a name")

    def result_project(self, before: Project | None) -> Project:
        name, prompt = self.name.text().strip(), self.prompt.toPlainText()
        model_id = str(self.model.currentData() or "")
        if before is None:
            return Project.create(name, prompt, model_id)
        return replace(before, name=name, system_prompt=prompt, model_id=model_id)


def _move_stored(store: ConversationStore, ids: list[str],
                 project_id: str) -> list[ConversationSummary]:
    """Put stored conversations in a project ("": none); their new summaries. Runs on the
    storage lane; one deleted meanwhile is skipped."""
    moved = []
    for conversation_id in ids:
        try:
            summary = store.conversation_summary(conversation_id)
            if summary.damaged:
                continue
            settings = ConversationSettings.from_json(summary.settings)
            store.set_conversation_settings(
                conversation_id, replace(settings, project=project_id).to_json())
            moved.append(store.conversation_summary(conversation_id))
        except NotFound:
            continue
    return moved


class ProjectsPresenter(QObject):
    """The projects: read after unlocking, forgotten at lock, saved sealed when changed."""

    sig_projects = Signal(object)
    """The list of Projects changed (read, edited, or emptied at lock), in the sidebar's order."""

    def __init__(self, window: MainWindow, session: HistorySession,
                 registry: ModelRegistry | None = None) -> None:
        """`registry`: the installed models the settings dialog offers (None: none)."""
        super().__init__(window)
        self.window = window
        self.session = session
        self.registry = registry
        self.controller = window.controller
        self.sidebar = window.sidebar
        self.projects: list[Project] = []
        self.dialog: ProjectDialog | None = None
        self._changed_here = False  # changed since unlock: a late read must not undo it
        self.new_action = QAction("New &Project…", window)
        self.new_action.triggered.connect(lambda: self.new_project())
        self.new_action.setEnabled(False)
        window.add_chat_action(self.new_action)
        sidebar = self.sidebar
        sidebar.sig_new_project.connect(self.new_project)
        sidebar.sig_new_in_project.connect(self.new_chat_in)
        sidebar.sig_edit_project.connect(self.edit_project)
        sidebar.sig_rename_project.connect(self.rename_project)
        sidebar.sig_delete_project.connect(self.delete_project)
        sidebar.sig_move_to_project.connect(self.move)
        sidebar.sig_project_folded.connect(self._folded)
        session.sig_state.connect(self._on_state)

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)

    # Reading and keeping the list ------------------------------------------------------

    def _on_state(self, state: str, _message: str) -> None:
        unlocked = state == HistoryState.UNLOCKED
        self.new_action.setEnabled(unlocked)
        if unlocked and self.session.store is not None:
            store = self.session.store
            self.session.tasks.run(lambda: store.load_preference(RECORD), self._loaded,
                                   lambda e: self.window.messages.error(
                                       "Your projects could not be read: "
                                       + storage_error_message(e)))
        elif not unlocked:
            self._changed_here = False
            if self.dialog is not None:
                self.dialog.reject()  # it may show a decrypted system prompt
            self._set([])  # locked: the names and prompts are the person's text

    def _loaded(self, record: dict[str, Any] | None) -> None:
        if not self._changed_here and self.session.unlocked:
            self._set(projects_from_json(record))

    def _set(self, projects: list[Project]) -> None:
        self.projects = sorted_projects(projects)
        self.controller.project_prompts = {p.id: p.system_prompt for p in self.projects
                                           if p.system_prompt.strip()}
        self.sidebar.set_projects(self.projects)
        self.sig_projects.emit(list(self.projects))

    def _change(self, projects: list[Project]) -> None:
        """Show and keep a changed list."""
        self._changed_here = True
        self._set(projects)
        self._save()

    def _save(self) -> None:
        store = self.session.store
        if store is None or not self.session.unlocked:
            return
        record = projects_to_json(self.projects)
        self.session.tasks.run(lambda: store.save_preference(RECORD, record), None,
                               lambda e: self.window.messages.error(
                                   "Your projects could not be saved: "
                                   + storage_error_message(e)))

    def _folded(self, project_id: str, folded: bool) -> None:
        """The sidebar folded a heading: kept, without redrawing the list."""
        self._changed_here = True
        self.projects = [replace(p, folded=folded) if p.id == project_id else p
                         for p in self.projects]
        self._save()

    # The person's actions --------------------------------------------------------------

    def _models(self) -> list[tuple[str, str]]:
        models = self.registry.models() if self.registry is not None else []
        return [(model.id, model.name) for model in models]

    def _open(self, project: Project | None, accepted: Any) -> ProjectDialog:
        dialog = ProjectDialog(project, self._models(), self.window)
        dialog.accepted.connect(lambda: accepted(dialog.result_project(project)))
        dialog.finished.connect(lambda _result: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        return dialog

    def new_project(self, conversation_id: str = "") -> ProjectDialog | None:
        """Ask for a new project's settings; the conversation `conversation_id` (if any)
        moves into it once it is made."""
        if not self.session.unlocked:
            return None

        def made(project: Project) -> None:
            self._change([*self.projects, project])
            self.window.messages.status(f"Project “{project.name}” made", 3000)
            if conversation_id:
                self.move(conversation_id, project.id)

        return self._open(None, made)

    def edit_project(self, project_id: str) -> ProjectDialog | None:
        project = self.project(project_id)
        if project is None:
            return None
        return self._open(project, lambda changed: self._change(
            [changed if p.id == project_id else p for p in self.projects]))

    def rename_project(self, project_id: str) -> None:
        project = self.project(project_id)
        if project is None:
            return
        name, accepted = QInputDialog.getText(self.window, "Rename Project", "Name:",
                                              QLineEdit.EchoMode.Normal, project.name)
        if accepted and name.strip():
            self._change([replace(p, name=name.strip()) if p.id == project_id else p
                          for p in self.projects])

    def delete_project(self, project_id: str) -> None:
        project = self.project(project_id)
        if project is None:
            return
        count = len(self.sidebar.model.ids_in(project_id))
        box = QMessageBox(QMessageBox.Icon.Question, "Delete Project",
                          f"Delete the project “{project.name}”? Its {count} conversation"
                          f"{'' if count == 1 else 's'} stay, under their dates.",
                          QMessageBox.StandardButton.Cancel, self.window)
        delete = box.addButton("Delete Project", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is delete:
            self.confirmed_delete(project_id)

    def confirmed_delete(self, project_id: str) -> None:
        """The project goes; its conversations are kept and move out of it."""
        ids = self.sidebar.model.ids_in(project_id)
        self._change([p for p in self.projects if p.id != project_id])
        for conversation in self._live(set(ids) | {self.controller.model.conversation.id}):
            if conversation.settings.project == project_id:
                conversation.settings = replace(conversation.settings, project="")
        self._move_stored(ids, "")

    def move(self, conversation_id: str, project_id: str) -> None:
        """Move a conversation into a project ("": out of its project)."""
        project = self.project(project_id)
        if project_id and project is None:
            return
        shown = self.controller.model.conversation
        for conversation in self._live({conversation_id}):
            if conversation is not shown:
                conversation.settings = replace(conversation.settings, project=project_id)
        if shown.id == conversation_id:
            # Kept through the history's record of the shown conversation's settings
            # (a new chat's, with its first message).
            self.controller.set_conversation_settings(
                replace(shown.settings, project=project_id))
        elif self.session.is_stored(conversation_id):
            self._move_stored([conversation_id], project_id)
        self.window.messages.status(f"Moved to “{project.name}”" if project is not None
                                    else "Moved out of the project", 3000)

    def _live(self, ids: set[str]) -> list[Conversation]:
        """The conversations in memory with these ids: on screen, or being written into."""
        live = [self.controller.model.conversation, self.controller.writing_elsewhere]
        return [c for c in live if c is not None and c.id in ids]

    def _move_stored(self, ids: list[str], project_id: str) -> None:
        store = self.session.store
        if store is None or not ids:
            return

        def moved(summaries: list[ConversationSummary]) -> None:
            for summary in summaries:
                self.session.sig_summary.emit(summary)

        self.session.tasks.run(lambda: _move_stored(store, ids, project_id), moved,
                               lambda e: self.window.messages.error(
                                   "The conversation could not be moved: "
                                   + storage_error_message(e)))

    def new_chat_in(self, project_id: str) -> None:
        """A new conversation inside the project, with the project's model (loaded the way
        a conversation's own model is, asking first if it will not fit)."""
        project = self.project(project_id)
        if project is None or not self.session.unlocked:
            return
        settings = ConversationSettings(project=project.id, model_id=project.model_id)
        self.controller.show_conversation(Conversation(settings=settings))
        self.window.composer.edit.setFocus()
