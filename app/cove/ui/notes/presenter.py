"""NotesPresenter: puts the notes workspace in the window and wires it to the notes session
(storage) and to the one model worker (writing actions, Ask my notes).

Autosave: a change is saved once typing pauses (IDLE_MS), and at the latest MAX_WAIT_MS after
the first unsaved change, so a crash loses at most about a second. Each note keeps its own
QTextDocument for the session, so undo and redo survive switching notes; they are memory only
and go at lock. A writing action asks the same WorkerHost the chat uses (no second model) and
its result streams into the review pane; applying it is one edit block, so one Ctrl+Z undoes
it.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QPlainTextDocumentLayout,
)

from cove.core.conversation import ReplyStats
from cove.notes.actions import (
    BUILT_IN,
    DRAFT_TEMPERATURE,
    ActionError,
    Outcome,
    WritingAction,
    apply_outcome,
    build_messages,
    clean_result,
    custom_action,
    find_action,
)
from cove.notes.diff import diff_blocks
from cove.notes.files import EXPORT_WARNING
from cove.notes.note import Note, NoteSummary, title_of, word_count
from cove.notes.retrieval import Passage, ask_messages, cited, fit_passages
from cove.storage.search import SearchHit
from cove.ui.chat.message_model import Roles as MessageRoles
from cove.ui.chat.window import MainWindow
from cove.ui.history.projects import ProjectsPresenter
from cove.ui.notes.session import NotesSession
from cove.ui.notes.workspace import UNTITLED, CommandPalette, NotesWorkspace, Roles

log = logging.getLogger(__name__)

IDLE_MS = 300  # save when typing pauses this long…
MAX_WAIT_MS = 800  # …or this long after the first unsaved change, whichever comes first
FRAME_MS = 16  # a streaming result repaints at most once a frame
COUNT_MS = 150  # the word count follows typing a moment later, not on every key
SEARCH_MS = 150
ASK = "ask"
ASK_CHAT = "ask-chat"
NEW_ACTION = "new-action"
NOTE_HIT = "note:"  # a note's hit among the window's search results: "note:" + its id


@dataclass
class Draft:
    """A writing action (or a question) being answered: what it works on and where."""

    action: WritingAction | None  # None: Ask my notes
    label: str
    note_id: str
    start: int
    end: int
    original: str
    request: int
    text: str = ""
    passages: tuple[Passage, ...] = ()
    streaming: bool = True


class NotesPresenter(QObject):
    def __init__(self, window: MainWindow, session: NotesSession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.controller = window.controller
        self.host = window.controller.host
        self.workspace = NotesWorkspace(window)
        window.pages.addWidget(self.workspace)
        self.current_id = ""
        self.documents: dict[str, QTextDocument] = {}  # per note, for the session: undo
        self._dirty: set[str] = set()
        self.draft: Draft | None = None
        self._n_ctx = 2048
        self._pending_match = ""
        self._pending_hit: SearchHit | None = None
        self._palette: CommandPalette | None = None

        self._idle = self._timer(IDLE_MS, self.save_now)
        self._max_wait = self._timer(MAX_WAIT_MS, self.save_now)
        self._counts = self._timer(COUNT_MS, self._show_counts)
        self._frame = self._timer(FRAME_MS, self._show_partial)
        self._search = self._timer(SEARCH_MS, self._run_search)
        self._build_menu()
        self._wire()
        self._on_actions()

    @staticmethod
    def _timer(ms: int, slot: object) -> QTimer:
        timer = QTimer()
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # Wiring ----------------------------------------------------------------------------

    def _build_menu(self) -> None:
        window, ws = self.window, self.workspace
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        menu = QMenu("&Notes", bar)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)  # before Help, as menus usually stand
        else:
            bar.addMenu(menu)
        self.toggle_action = QAction("Switch Between &Notes and Chat", window)
        self.toggle_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.toggle_action.triggered.connect(self.toggle)
        self.toggle_action.setEnabled(False)
        self.palette_action = QAction("&Writing Actions…", ws)
        self.palette_action.setShortcut(QKeySequence("Ctrl+J"))
        self.palette_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.palette_action.triggered.connect(self.show_palette)
        ws.addAction(self.palette_action)
        self.send_reply_action = QAction("Send Last &Reply to a New Note", window)
        self.send_reply_action.triggered.connect(lambda: self.send_last_reply(append=False))
        self.append_reply_action = QAction("&Append Last Reply to the Open Note", window)
        self.append_reply_action.triggered.connect(lambda: self.send_last_reply(append=True))
        self.ask_note_action = QAction("Ask the Chat About This &Note", window)
        self.ask_note_action.triggered.connect(self.ask_about_note)
        menu.addAction(self.toggle_action)
        menu.addAction(self.palette_action)
        menu.addSeparator()
        for action in (self.send_reply_action, self.append_reply_action,
                       self.ask_note_action):
            menu.addAction(action)
        # Ctrl+F is the window's search; while the notes show, it searches the notes.
        window.search_action.triggered.connect(self._focus_search)
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), ws)
        self.stop_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.stop_shortcut.setEnabled(False)  # only while a result is written (Esc stops it)
        self.stop_shortcut.activated.connect(self.stop)
        self.preview_shortcut = QShortcut(QKeySequence("Ctrl+Shift+P"), ws)
        self.preview_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.preview_shortcut.activated.connect(
            lambda: ws.show_preview(not ws.preview_button.isChecked()))

    def _wire(self) -> None:
        ws, session, host = self.workspace, self.session, self.host
        session.sig_listed.connect(ws.model.set_notes)
        session.sig_summary.connect(self._on_summary)
        session.sig_opened.connect(self._on_opened)
        session.sig_removed.connect(self._on_removed)
        session.sig_unsaved.connect(self._dirty.add)  # tried again at the next save
        session.sig_error.connect(self.window.messages.error)
        session.sig_locked.connect(self._on_locked)
        session.sig_actions.connect(self._on_actions)
        session.history.sig_state.connect(
            lambda state, _m: self.toggle_action.setEnabled(state == "unlocked"))
        self.toggle_action.setEnabled(session.history.unlocked)
        ws.new_button.clicked.connect(lambda: session.create_note(""))
        ws.import_button.clicked.connect(self.choose_import)
        ws.export_button.clicked.connect(self.choose_export)
        ws.delete_button.clicked.connect(self.delete_current)
        ws.pin_button.clicked.connect(
            lambda pinned: session.set_pinned(self.current_id, pinned) if self.current_id
            else None)
        ws.chat_button.clicked.connect(self.toggle)
        ws.sig_pin.connect(session.set_pinned)
        ws.sig_export.connect(self.export_note)
        ws.sig_delete.connect(self.delete_note)
        ws.sig_move_to_project.connect(session.set_project)
        ws.ask_button.clicked.connect(lambda: self.ask_my_notes())
        ws.actions_menu.triggered.connect(lambda item: self._on_palette(str(item.data())))
        ws.list_view.clicked.connect(lambda index: self.open(str(index.data(Roles.ID))))
        ws.list_view.activated.connect(lambda index: self.open(str(index.data(Roles.ID))))
        ws.search_box.textChanged.connect(lambda _t: self._search.start())
        ws.review.sig_apply.connect(self.apply)
        ws.review.sig_insert_below.connect(self.insert_below)
        ws.review.sig_discard.connect(self.discard)
        ws.review.sig_stop.connect(self.stop)
        ws.review.sig_note_link.connect(self.open)
        ws.editor.customContextMenuRequested.connect(self._context_menu)
        ws.editor.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        host.sig_chunk.connect(self._on_chunk)
        host.sig_finished.connect(self._on_finished)
        host.sig_failed.connect(self._on_failed)
        self.controller.sig_model_ready.connect(self._on_model_ready)
        self.window.sig_closing.connect(self.save_now)
        self.window.chat_view.message_actions.append(self._reply_actions)
        self.window.sidebar.sig_search.connect(self._search_with_messages)
        self.window.sidebar.sig_open_hit.connect(self._open_search_hit)

    def follow_projects(self, projects: ProjectsPresenter) -> None:
        """Group the notes by the chat's projects, and offer them in each row's menu."""
        projects.sig_projects.connect(self.workspace.set_projects)
        self.workspace.set_projects(projects.projects)

    def _focus_search(self) -> None:
        if self.shown:
            self.workspace.search_box.setFocus()
            self.workspace.search_box.selectAll()

    def send_last_reply(self, append: bool) -> None:
        """The chat's last reply into a new note, or at the end of the open one."""
        reply = self.controller.last_reply()
        if reply is None or not reply.text.strip():
            self.window.messages.notice("There is no reply to send yet.")
            return
        self.send_to_note(reply.text, append)

    def send_to_note(self, text: str, append: bool) -> None:
        """`text` (a chat reply) into a new note, or at the end of the open one (one undo
        step there); then the notes show."""
        if not self.session.ready:
            self.window.messages.notice("Unlock your history to use notes.")
            return
        if append and self.current_id in self.documents:
            document = self.documents[self.current_id]
            cursor = QTextCursor(document)
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText("\n\n" + text.strip() + "\n")
        else:
            self.session.create_note(text.strip() + "\n")
        if not self.shown:
            self.toggle()

    def _reply_actions(self, index: QModelIndex, menu: QMenu) -> None:
        """A chat reply's menu (ChatView.message_actions): Send to Note, to a new one or the
        open one."""
        text = str(index.data(MessageRoles.TEXT) or "")
        if index.data(MessageRoles.ROLE) != "assistant" or not text.strip():
            return
        menu.addSeparator()
        new = menu.addAction("Send to New Note", lambda: self.send_to_note(text, False))
        title = self.workspace.title_label.text()
        append = menu.addAction(f"Append to Note “{title}”" if self.current_id and title
                                else "Append to the Open Note",
                                lambda: self.send_to_note(text, True))
        new.setEnabled(self.session.ready)
        append.setEnabled(self.session.ready and self.current_id in self.documents)

    def ask_about_note(self) -> None:
        """A new chat with the open note as context, the question left for the person."""
        if not self.current_id:
            self.window.messages.notice("Open a note first.")
            return
        text = self.workspace.editor.toPlainText().strip()
        self.save_now()
        self.window.new_conversation()
        self.window.show_page(unlock=False)
        self.window.composer.set_text(f"Here is my note:\n\n{text}\n\nMy question about it: ")
        self.window.composer.edit.setFocus()

    def _on_model_ready(self, _name: str, n_ctx: int) -> None:
        self._n_ctx = n_ctx

    # Showing notes -----------------------------------------------------------------------

    @property
    def shown(self) -> bool:
        return self.window.pages.currentWidget() is self.workspace

    def toggle(self) -> None:
        """Notes <-> chat (Ctrl+Shift+N)."""
        if self.shown:
            self.save_now()
            self.window.show_page(unlock=False)
        elif self.session.ready:
            self.window.pages.setCurrentWidget(self.workspace)
            self.window.splitter.setEnabled(False)  # the hidden chat takes no keys
            (self.workspace.editor if self.current_id else self.workspace.search_box).setFocus()

    def open(self, note_id: str) -> None:
        if not note_id or note_id == self.current_id:
            return
        if self.draft is not None:
            self.discard()
        self.save_now()
        if note_id in self.documents:
            self._show(note_id)
        else:
            self.session.open_note(note_id)

    def _on_opened(self, note: Note) -> None:
        if note.id not in self.documents:
            document = QTextDocument(self)
            document.setDocumentLayout(QPlainTextDocumentLayout(document))
            document.setPlainText(note.text)  # before watching: loading is not an edit
            document.setModified(False)
            document.contentsChanged.connect(lambda nid=note.id: self._on_edited(nid))
            self.documents[note.id] = document
        self._show(note.id)  # the list has its row: sig_summary came first

    def _show(self, note_id: str) -> None:
        ws = self.workspace
        self.current_id = note_id
        ws.editor.use_document(self.documents[note_id])
        ws.show_note(True)
        ws.show_preview(False)
        summary = ws.model.summary(note_id)
        ws.show_pinned(bool(summary and summary.pinned))
        ws.select_note(note_id)
        self._show_counts()
        if self._pending_hit is not None:
            self._select_hit(self._pending_hit)
            self._pending_hit = None
        elif self._pending_match:
            self._select_match(self._pending_match)
        self._pending_match = ""
        ws.editor.setFocus()

    def _select_match(self, query: str) -> None:
        text = self.workspace.editor.toPlainText().lower()
        words = sorted(query.lower().split(), key=len, reverse=True)
        position = text.find(words[0]) if words else -1
        if position >= 0:
            self.workspace.editor.select_range(position, position + len(words[0]))

    def _select_hit(self, hit: SearchHit) -> None:
        """Select the search hit's match in the open note: the snippet is found in the text
        (line breaks became spaces in it), then the match within it."""
        text = self.workspace.editor.toPlainText()
        flat = text.replace("\r", " ").replace("\n", " ")
        lead = 1 if hit.snippet.startswith("…") else 0
        body = hit.snippet[lead:].removesuffix("…")
        where = flat.find(body) if body else -1
        if where < 0 or not hit.matches:
            self._select_match(hit.snippet[slice(*hit.matches[0])] if hit.matches else "")
            return
        start, end = hit.matches[0]
        self.workspace.editor.select_range(where + start - lead, where + end - lead)

    def _on_summary(self, summary: NoteSummary) -> None:
        self.workspace.model.upsert(summary)
        if summary.id == self.current_id:
            self.workspace.show_pinned(summary.pinned)
            self.workspace.select_note(summary.id)

    def _on_removed(self, note_id: str) -> None:
        self.workspace.model.remove(note_id)
        self._dirty.discard(note_id)
        document = self.documents.pop(note_id, None)
        if note_id == self.current_id:
            self.current_id = ""
            self.workspace.editor.use_document(self._blank())
            self.workspace.show_note(False)
        if document is not None:
            document.deleteLater()

    def _blank(self) -> QTextDocument:
        document = QTextDocument(self.workspace.editor)
        document.setDocumentLayout(QPlainTextDocumentLayout(document))
        return document

    def _on_locked(self) -> None:
        """Forget every note, undo history included (the text must not outlive the key)."""
        self._cancel_draft()
        self._dirty.clear()
        self._idle.stop()
        self._max_wait.stop()
        self.current_id = ""
        self.workspace.editor.use_document(self._blank())
        self.workspace.preview.clear()
        self.workspace.show_note(False)
        self.workspace.model.set_notes([])
        for document in self.documents.values():
            document.deleteLater()
        self.documents.clear()
        self.workspace.search_box.clear()
        self._pending_hit = None
        self.window.sidebar.show_note_hits([], {})

    # Typing and saving -----------------------------------------------------------------

    def _on_edited(self, note_id: str) -> None:
        self._dirty.add(note_id)
        self._idle.start()
        if not self._max_wait.isActive():
            self._max_wait.start()
        if note_id == self.current_id:
            self._counts.start()

    def save_now(self) -> None:
        """Save every note changed since its last save (in the storage lane, in order)."""
        self._idle.stop()
        self._max_wait.stop()
        for note_id in sorted(self._dirty):
            document = self.documents.get(note_id)
            if document is not None:
                self.session.save_text(note_id, document.toPlainText())
        self._dirty.clear()

    def _show_counts(self) -> None:
        text = self.workspace.editor.toPlainText()
        self.workspace.show_counts(word_count(text), len(text))
        self.workspace.show_title(title_of(text))

    def _run_search(self) -> None:
        query = self.workspace.search_box.text().strip()
        if not query:
            self.workspace.model.show_only(None)
            self.workspace.show_search_status("")
            return

        def found(hits: list[SearchHit]) -> None:
            if query != self.workspace.search_box.text().strip():
                return  # the box changed meanwhile
            self._pending_match = query
            self.workspace.model.show_only([h.message_id for h in hits],
                                           {h.message_id: h.snippet for h in hits})
            count = len(hits)
            self.workspace.show_search_status(
                f"{count} note{'s' if count != 1 else ''} found" if count
                else "No note contains that.")

        self.session.search(query, found)

    def _search_with_messages(self, query: str) -> None:
        """The chat's search (Ctrl+F in the sidebar) looks through the notes too; their hits
        are listed after the messages' and open the note at the match."""
        sidebar = self.window.sidebar
        if not query or not self.session.ready:
            sidebar.show_note_hits([], {})
            return

        def found(hits: list[SearchHit]) -> None:
            if query != sidebar.search_box.text().strip():
                return  # the box changed meanwhile
            titles: dict[str, str] = {}
            named: list[SearchHit] = []
            for hit in hits:
                summary = self.workspace.model.summary(hit.message_id)
                key = NOTE_HIT + hit.message_id
                titles[key] = f"Note · {summary.title if summary else UNTITLED}"
                named.append(SearchHit(key, hit.message_id, hit.snippet, hit.matches))
            sidebar.show_note_hits(named, titles)

        self.session.search(query, found)

    def _open_search_hit(self, hit: SearchHit) -> None:
        """A note's hit in the chat's search results: show the note, its match selected."""
        if not hit.conversation_id.startswith(NOTE_HIT) or not self.session.ready:
            return
        self.save_now()
        self.window.pages.setCurrentWidget(self.workspace)
        self.window.splitter.setEnabled(False)  # the hidden chat takes no keys
        if hit.message_id == self.current_id:
            self._select_hit(hit)
            self.workspace.editor.setFocus()
            return
        self._pending_hit = hit
        self.open(hit.message_id)

    # Files ------------------------------------------------------------------------------

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import Note", str(Path.home()),
                                              "Notes (*.md *.markdown *.txt)")
        if path:
            self.session.import_file(Path(path))

    def choose_export(self) -> None:
        self.export_note(self.current_id)

    def export_note(self, note_id: str) -> None:
        """Export a note as a file, after the plain-text warning."""
        summary = self.workspace.model.summary(note_id)
        if not note_id or summary is None:
            return
        answer = QMessageBox.warning(
            self.window, "Export as Plain Text", EXPORT_WARNING + "\n\nExport anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.save_now()
        name = re.sub(r"[^\w\- ]+", "", self._title(note_id))
        target, _ = QFileDialog.getSaveFileName(
            self.window, "Export Note", str(Path.home() / f"{name.strip()[:60] or 'note'}.md"),
            "Markdown (*.md);;Plain text (*.txt)")
        if target:
            self.session.export(note_id, Path(target),
                                lambda path: self.window.messages.status(
                                    f"Exported to {path}", 4000))

    def confirm_delete(self, title: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete Note",
                          f"Delete “{title}” from this computer? This cannot be undone.",
                          QMessageBox.StandardButton.Cancel, self.window)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def _title(self, note_id: str) -> str:
        """A note's title as it stands (its text on screen may be ahead of the store's)."""
        document = self.documents.get(note_id)
        summary = self.workspace.model.summary(note_id)
        title = title_of(document.toPlainText()) if document is not None else \
            summary.title if summary is not None else ""
        return title or UNTITLED

    def delete_current(self) -> None:
        """Delete the open note, once the person has confirmed it."""
        self.delete_note(self.current_id)

    def delete_note(self, note_id: str) -> None:
        """Delete a note, once the person has confirmed it."""
        summary = self.workspace.model.summary(note_id)
        if summary is None:
            return
        if self.confirm_delete(self._title(note_id)):
            self._dirty.discard(note_id)
            self.session.delete(note_id)

    # Writing actions --------------------------------------------------------------------

    def _all_actions(self) -> list[WritingAction]:
        return [*BUILT_IN, *self.session.custom_actions]

    def _fill_menu(self, menu: QMenu) -> None:
        for action in self._all_actions():
            item = menu.addAction(action.label)
            item.setData(action.name)
        menu.addSeparator()
        menu.addAction("New Writing Action…").setData(NEW_ACTION)

    def _on_actions(self) -> None:
        self.workspace.actions_menu.clear()
        self._fill_menu(self.workspace.actions_menu)

    def _context_menu(self, position: QPoint) -> None:
        menu = self.workspace.editor.createStandardContextMenu()
        menu.addSeparator()
        actions = menu.addMenu("Writing Actions")
        self._fill_menu(actions)
        actions.triggered.connect(lambda item: self._on_palette(str(item.data())))
        menu.exec(self.workspace.editor.mapToGlobal(position))
        menu.deleteLater()

    def show_palette(self) -> None:
        if not self.current_id:
            return
        if self._palette is None:
            self._palette = CommandPalette(self.window)
            self._palette.sig_chosen.connect(self._on_palette)
        commands = [(a.name, a.label) for a in self._all_actions()]
        commands += [(ASK, "Ask my notes…"), (ASK_CHAT, "Ask the chat about this note"),
                     (NEW_ACTION, "New writing action…")]
        self._palette.set_commands(commands)
        self._palette.show()
        self._palette.filter_box.setFocus()

    def _on_palette(self, key: str) -> None:
        if key == ASK:
            self.ask_my_notes()
        elif key == ASK_CHAT:
            self.ask_about_note()
        elif key == NEW_ACTION:
            self.new_custom_action()
        else:
            self.choose_action(find_action(key, self.session.custom_actions))

    def choose_action(self, action: WritingAction) -> None:
        instruction = ""
        if action.needs_instruction:
            instruction, ok = QInputDialog.getText(
                self.window, "Your Instruction", "What should the model do with the text?")
            if not ok:
                return
        self.run_action(action, instruction)

    def new_custom_action(self) -> None:
        label, ok = QInputDialog.getText(self.window, "New Writing Action", "Name:")
        if not ok:
            return
        prompt, ok = QInputDialog.getMultiLineText(
            self.window, "New Writing Action",
            "Prompt ({selection}, {note} and {title} are filled in):",
            "Rewrite this as a haiku:\n\n{selection}")
        if not ok:
            return
        try:
            self.session.add_custom_action(custom_action(label, prompt))
        except ActionError as error:
            self.window.messages.error(str(error))

    def _can_generate(self) -> bool:
        if self.draft is not None:
            self.window.messages.notice("Finish reviewing the last result first.")
        elif not self.controller.ready:
            self.window.messages.error("No model is loaded yet. Wait for it to load, or "
                                       "choose one with File > Open Model File….")
        elif self.controller.busy:
            self.window.messages.notice("The model is writing a chat reply; try again when "
                                        "it is done.")
        else:
            return True
        return False

    def run_action(self, action: WritingAction, instruction: str = "") -> bool:
        """Ask the model for `action` on the selection (or the whole note); False if it
        cannot start (the banner says why)."""
        if not self.current_id or not self._can_generate():
            return False
        editor = self.workspace.editor
        note = editor.toPlainText()
        cursor = editor.textCursor()
        start, end = (cursor.selectionStart(), cursor.selectionEnd()) if cursor.hasSelection() \
            else (0, len(note))
        if action.outcome is Outcome.HEADING:
            start, end = 0, len(note)
        try:
            messages = build_messages(action, note[start:end], note, title_of(note), instruction)
        except ActionError as error:
            self.window.messages.error(str(error))
            return False
        self.save_now()
        params = replace(self.controller.params, temperature=DRAFT_TEMPERATURE)
        request = self.host.generate(messages, params)
        self.draft = Draft(action, action.label, self.current_id, start, end, note[start:end],
                           request)
        self._start_review(action.label)
        return True

    def _start_review(self, label: str) -> None:
        self.workspace.show_note(True)  # an answer shows even when no note is open
        self.workspace.show_preview(False)
        self.workspace.editor.setReadOnly(True)
        self.workspace.review.start(label)
        self.stop_shortcut.setEnabled(True)

    def _on_chunk(self, request_id: int, text: str) -> None:
        if self.draft is None or request_id != self.draft.request:
            return
        self.draft.text += text
        if not self._frame.isActive():
            self._frame.start()

    def _show_partial(self) -> None:
        if self.draft is not None and self.draft.streaming:
            self.workspace.review.show_partial(self.draft.text)

    def _on_finished(self, request_id: int, _stats: ReplyStats, stopped: bool) -> None:
        draft = self.draft
        if draft is None or request_id != draft.request:
            return
        draft.streaming = False
        self._frame.stop()
        self.stop_shortcut.setEnabled(False)
        review = self.workspace.review
        if draft.action is None:
            self._show_answer(draft, stopped)
            return
        result = clean_result(draft.action, draft.text)
        after = apply_outcome(draft.action, draft.original, result)
        review.show_result(draft.label, result, diff_blocks(draft.original, after),
                           "stopped early" if stopped else "")

    def _on_failed(self, request_id: int, message: str) -> None:
        if self.draft is None or request_id != self.draft.request:
            return
        self.draft.streaming = False
        self.stop_shortcut.setEnabled(False)
        self.workspace.review.show_failure(self.draft.label, message)

    def stop(self) -> None:
        """Esc: stop the result being written; what came so far is kept for review."""
        if self.draft is not None and self.draft.streaming:
            self.host.cancel(self.draft.request)

    def _end_draft(self) -> Draft | None:
        draft, self.draft = self.draft, None
        self.workspace.review.hide()
        self.workspace.editor.setReadOnly(False)
        self.stop_shortcut.setEnabled(False)
        self.workspace.show_note(bool(self.current_id))
        self.workspace.editor.setFocus()
        return draft

    def _cancel_draft(self) -> None:
        if self.draft is not None and self.draft.streaming:
            self.host.cancel(self.draft.request)
        self._end_draft()

    def discard(self) -> None:
        self._cancel_draft()

    def _edit(self, draft: Draft, start: int, end: int, text: str) -> None:
        """Replace [start, end) of the draft's note with `text` as one undo step."""
        document = self.documents.get(draft.note_id)
        if document is None:
            return
        cursor = QTextCursor(document)
        cursor.beginEditBlock()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(text)
        cursor.endEditBlock()
        if draft.note_id == self.current_id:
            self.workspace.editor.setTextCursor(cursor)

    def apply(self, text: str) -> None:
        """Apply (the chosen changes) or Accept all: the text replaces what was worked on."""
        draft = self._end_draft()
        if draft is not None and draft.action is not None and text != draft.original:
            self._edit(draft, draft.start, draft.end, text)

    def insert_below(self, result: str) -> None:
        draft = self._end_draft()
        if draft is None or not result.strip():
            return
        if draft.action is None:  # an answer goes at the end of the open note
            document = self.documents.get(self.current_id)
            if document is None:
                return
            end = len(document.toPlainText())
            draft = replace(draft, note_id=self.current_id)
        else:
            end = draft.end
        self._edit(draft, end, end, "\n\n" + result.strip() + "\n")

    # Ask my notes -------------------------------------------------------------------------

    def ask_my_notes(self, question: str | None = None) -> None:
        """Answer a question from the notes: the best passages that fit the context, cited."""
        if question is None:
            question, ok = QInputDialog.getText(self.window, "Ask My Notes",
                                                "Ask a question about your notes:")
            if not ok:
                return
        if not question.strip() or not self._can_generate():
            return

        def retrieved(passages: list[Passage]) -> None:
            if not passages:
                self.window.messages.notice("None of your notes mention that. Try other "
                                            "words.")
                return
            if not self._can_generate():
                return
            budget = max(256, self._n_ctx // 2)
            # About four characters a token: the fit is checked again by the engine, which
            # drops history (here: nothing) rather than overflow.
            kept = fit_passages(passages, budget, lambda text: len(text) // 3 + 1)
            request = self.host.generate(ask_messages(question, kept),
                                         replace(self.controller.params,
                                                 temperature=DRAFT_TEMPERATURE))
            self.draft = Draft(None, f"Ask my notes: {question.strip()}", self.current_id, 0,
                               0, "", request, passages=tuple(kept))
            if not self.shown:
                self.toggle()
            self._start_review(self.draft.label)

        self.session.retrieve(question, retrieved)

    def _show_answer(self, draft: Draft, stopped: bool) -> None:
        answer = draft.text.strip()
        passages = list(draft.passages)
        titles = {p.note_id: p.title for p in passages}

        def link(match: re.Match[str]) -> str:
            number = int(match.group(1))
            if not 1 <= number <= len(passages):
                return html.escape(match.group(0))
            note_id = passages[number - 1].note_id
            return (f'<a href="note:{note_id}">[{number}] '
                    f"{html.escape(titles[note_id])}</a>")

        pieces: list[str] = []
        position = 0
        for match in re.finditer(r"\[(\d{1,3})\]", answer):
            pieces += [html.escape(answer[position:match.start()]), link(match)]
            position = match.end()
        body = "".join(pieces) + html.escape(answer[position:])
        used = cited(answer, passages) or [(n, p.note_id) for n, p in enumerate(passages, 1)]
        sources = "".join(f'<li><a href="note:{nid}">{html.escape(titles[nid])}</a></li>'
                          for _, nid in dict.fromkeys(used))
        page = (f"<div style='white-space:pre-wrap'>{body}</div>"
                f"<p>{'Stopped early. ' if stopped else ''}From your notes:</p><ul>{sources}</ul>")
        self.workspace.review.show_answer(draft.label, answer, page, bool(self.current_id))
        self.draft = draft  # kept until Insert below or Discard
