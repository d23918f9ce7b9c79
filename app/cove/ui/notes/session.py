"""NotesSession: the GUI's handle on the notes in the encrypted store, all work off its thread.

Every store call runs on the TaskManager's storage lane (in order, so a save can never land
after a later one), but for the index build's one read; results come back as signals on the
GUI thread. Two indexes are built in memory after unlocking and dropped at lock: the search
index (the same find-in-page search as the chat's) and the Ask-my-notes passage index.
Neither is ever written out. Everything done to them (the build, each saved note's update,
queries) runs in order on the index lane: the build takes seconds with thousands of long
notes, and must hold up neither the storage lane (opening, saving) nor the GUI thread (which
used to index each saved note itself: 70 ms a save for a 20,000-word note). A saved note is
indexed again once its saves pause (INDEX_PAUSE_MS), not while the person types: the update
still takes the interpreter from the typing for a while with a long note. A search or a
question first queues what waits, so it sees every saved note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from cove.notes.actions import ActionError, WritingAction, custom_action
from cove.notes.files import ImportRefused, note_export_text, read_note_file, write_private
from cove.notes.note import Note, NoteSummary
from cove.notes.retrieval import NotesIndex, Passage
from cove.storage.notes import NoteStore
from cove.storage.search import SearchHit, SearchIndex
from cove.ui.history.session import HistorySession, HistoryState, storage_error_message
from cove.ui.tasks import Cancelled, Job, Lane, Task

log = logging.getLogger(__name__)

CUSTOM_ACTIONS = "note_actions"  # sealed record: {"actions": [{"label", "prompt"}, ...]}
_SEARCH_GROUP = "notes"  # the search index's "conversation" every note sits in
# Saved notes are indexed again once saving pauses this long: longer than the editor's
# MAX_WAIT_MS, so a save made while the person keeps typing waits for the pause.
INDEX_PAUSE_MS = 1_000


def _with_summary(notes: NoteStore, note: Note) -> tuple[Note, NoteSummary]:
    """`note` and its list entry, made on the storage lane with the word count the store
    made when it saved the note: the GUI thread counts no words (a millisecond a save for a
    20,000-word note, every autosave)."""
    return note, notes.summary_of(note)


def _explain(error: BaseException) -> str:
    if isinstance(error, ImportRefused):
        return str(error)
    return storage_error_message(error)


class NotesSession(QObject):
    sig_listed = Signal(object)
    """Every NoteSummary, for the list (after unlocking, and after an import)."""
    sig_summary = Signal(object)
    """One note's NoteSummary changed or was added."""
    sig_opened = Signal(object)
    """A Note was decrypted to show in the editor (its sig_summary comes just before)."""
    sig_saved = Signal(str, int)
    """A note's text was saved: its id and the length of the text that was saved."""
    sig_removed = Signal(str)
    """A note was deleted."""
    sig_unsaved = Signal(str)
    """A note's save failed (a full disk): its id; the text stays on screen, unsaved."""
    sig_error = Signal(str)
    """Something a person should know; what is on screen was kept."""
    sig_locked = Signal()
    """The history locked: forget every note shown."""
    sig_actions = Signal()
    """The person's own writing actions were read or changed (`custom_actions`)."""

    def __init__(self, history: HistorySession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.tasks = history.tasks
        self.search_index: SearchIndex | None = None
        self._indexing: Task | None = None  # the build after unlocking
        self.passages: NotesIndex | None = None
        self._waiting: dict[str, Note] = {}  # saved notes to index once saving pauses
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(INDEX_PAUSE_MS)
        self._pause.timeout.connect(self.flush_index)
        self.custom_actions: tuple[WritingAction, ...] = ()
        history.sig_state.connect(self._on_history_state)
        if history.unlocked:
            self.refresh()

    @property
    def index_waiting(self) -> bool:
        """Whether saved notes wait for a pause in saving to be indexed again."""
        return bool(self._waiting)

    @property
    def ready(self) -> bool:
        return self.history.unlocked and self.history.store is not None

    def _on_history_state(self, state: str, _message: str) -> None:
        if state == HistoryState.UNLOCKED:
            self.refresh()
        else:
            self._stop_indexing()  # the build holds every note's text: it stops at once
            self._forget_waiting()
            self.search_index = None
            self.passages = None
            self.custom_actions = ()
            self.sig_locked.emit()

    def _run(self, work: Callable[[Any], Any], done: Callable[[Any], Any] | None,
             failure: str = "") -> None:
        store = self.history.store
        if store is None or not self.history.unlocked:
            self.sig_error.emit("Unlock your history to use notes.")
            return
        self.tasks.run(lambda: work(store.notes), done,
                       lambda error: self.sig_error.emit(failure + _explain(error)),
                       lane=Lane.STORAGE)

    def refresh(self) -> None:
        """List the notes, and build both indexes in the background."""
        self._stop_indexing()
        self._forget_waiting()  # the build reads every note as saved
        search, passages = SearchIndex(), NotesIndex()
        self.search_index, self.passages = search, passages
        store = self.history.store

        def build(job: Job) -> None:
            assert store is not None
            # The one store call made off the storage lane: a read of the notes decrypted
            # at unlock, under the store's lock like every other call. Made here, the build
            # is queued at once, so every query and update asked for after it waits for it.
            notes = store.notes.all_notes()
            search.add_many((_SEARCH_GROUP, note.id, note.text) for note in notes)
            for note in notes:  # the passages take longer: stop between notes at a lock
                job.check()
                passages.add(note.id, note.title, note.text)

        def failed(error: BaseException) -> None:
            if self.search_index is search:  # else locked meanwhile: nothing to say
                self._index_failed("note index", error)

        self._run(lambda notes: notes.list_notes(), self.sig_listed.emit)
        if store is not None:
            self._indexing = self.tasks.start(build, None, failed, lane=Lane.INDEX)
            self.tasks.run(lambda: store.load_preference(CUSTOM_ACTIONS), self._on_actions,
                           lambda _e: self.sig_error.emit(
                               "Your own writing actions could not be read."))

    def _forget_waiting(self) -> None:
        self._pause.stop()
        self._waiting.clear()

    def flush_index(self) -> None:
        """Queue the index updates that wait for a pause in saving (on the pause, and before
        every search and question)."""
        waiting, self._waiting = self._waiting, {}
        self._pause.stop()
        if not self.ready:  # the history closed meanwhile: nothing to index for
            return
        for note in waiting.values():
            self._index(note)

    def _stop_indexing(self) -> None:
        if self._indexing is not None:
            self._indexing.cancel()
            self._indexing = None

    @staticmethod
    def _index_failed(what: str, error: BaseException) -> None:
        if not isinstance(error, Cancelled):
            log.error("%s failed: %s", what, type(error).__name__)

    def _on_index(self, change: Callable[[SearchIndex, NotesIndex], object]) -> None:
        """Apply `change` to both indexes on the index lane, after what is queued there
        (unless the window has closed: no lane then, and the indexes are in memory only)."""
        search, passages = self.search_index, self.passages
        if search is not None and passages is not None and not self.tasks.closed:
            self.tasks.run(lambda: change(search, passages), None,
                           lambda error: self._index_failed("note index update", error),
                           lane=Lane.INDEX)

    def _index(self, note: Note) -> None:
        def change(search: SearchIndex, passages: NotesIndex) -> None:
            search.add(_SEARCH_GROUP, note.id, note.text)
            passages.add(note.id, note.title, note.text)

        self._on_index(change)

    # Notes ---------------------------------------------------------------------------------

    def open_note(self, note_id: str) -> None:
        self._run(lambda notes: _with_summary(notes, notes.load_note(note_id)), self._on_loaded)

    def _on_loaded(self, result: tuple[Note, NoteSummary]) -> None:
        note, summary = result
        self.sig_summary.emit(summary)  # first: the list has the row the editor shows
        self.sig_opened.emit(note)

    def create_note(self, text: str = "") -> None:
        self._run(lambda notes: _with_summary(notes, notes.create_note(text)), self._on_created)

    def _on_created(self, result: tuple[Note, NoteSummary]) -> None:
        self._index(result[0])
        self._on_loaded(result)

    def save_text(self, note_id: str, text: str) -> None:
        def saved(result: tuple[Note, NoteSummary]) -> None:
            note, summary = result
            self._waiting[note.id] = note  # indexed once saving pauses
            self._pause.start()
            self.sig_summary.emit(summary)
            self.sig_saved.emit(note_id, len(text))

        def failed(error: BaseException) -> None:
            self.sig_unsaved.emit(note_id)
            self.sig_error.emit("Your note could not be saved; it stays on screen and is "
                                "saved again with your next change. " + _explain(error))

        store = self.history.store
        if store is None or not self.history.unlocked:
            self.sig_unsaved.emit(note_id)
            return
        self.tasks.run(lambda: _with_summary(store.notes, store.notes.save_text(note_id, text)),
                       saved, failed, lane=Lane.STORAGE)

    def set_pinned(self, note_id: str, pinned: bool) -> None:
        self._run(lambda notes: notes.summary_of(notes.set_pinned(note_id, pinned)),
                  self.sig_summary.emit)

    def set_project(self, note_id: str, project_id: str) -> None:
        self._run(lambda notes: notes.summary_of(notes.set_project(note_id, project_id)),
                  self.sig_summary.emit)

    def delete(self, note_id: str) -> None:
        def forget(search: SearchIndex, passages: NotesIndex) -> None:
            search.remove(note_id)
            passages.remove(note_id)

        def deleted(_none: None) -> None:
            self._waiting.pop(note_id, None)
            self._on_index(forget)
            self.sig_removed.emit(note_id)

        self._run(lambda notes: notes.delete_note(note_id), deleted)

    def import_file(self, path: Path) -> None:
        """A .md or .txt file as a new note (checked for size, binary data and encoding)."""
        self._run(lambda notes: _with_summary(notes, notes.create_note(read_note_file(path))),
                  self._on_created, "Import failed: ")

    def export(self, note_id: str, target: Path, done: Callable[[Path], None]) -> None:
        self._run(lambda notes: write_private(target, note_export_text(notes.load_note(note_id))),
                  done, "Export failed: ")

    def search(self, query: str, done: Callable[[list[SearchHit]], None]) -> None:
        index = self.search_index
        self._ask_index(None if index is None else lambda: index.search(query, limit=200),
                        done, "note search")

    def retrieve(self, question: str, done: Callable[[list[Passage]], None]) -> None:
        index = self.passages
        self._ask_index(None if index is None else lambda: index.search(question, limit=12),
                        done, "note retrieval")

    def _ask_index(self, query: Callable[[], list[Any]] | None,
                   done: Callable[[list[Any]], None], what: str) -> None:
        """Run `query` on an in-memory index on the index lane, after its build and the
        updates queued before it, those waiting for a pause too (no index yet: no
        results)."""
        if query is None:
            done([])
            return
        self.flush_index()
        self.tasks.run(query, done, lambda error: self._index_failed(what, error),
                       lane=Lane.INDEX)

    # The person's own writing actions --------------------------------------------------------

    def _on_actions(self, record: dict[str, Any] | None) -> None:
        kept: list[WritingAction] = []
        for item in (record or {}).get("actions", []):
            try:
                kept.append(custom_action(str(item["label"]), str(item["prompt"])))
            except (ActionError, KeyError, TypeError):
                continue
        self.custom_actions = tuple(kept)
        self.sig_actions.emit()

    def add_custom_action(self, action: WritingAction) -> None:
        store = self.history.store
        if store is None:
            return
        others = tuple(a for a in self.custom_actions if a.name != action.name)
        self.custom_actions = (*others, action)
        self.sig_actions.emit()
        record = {"actions": [{"label": a.label, "prompt": a.task}
                              for a in self.custom_actions]}
        self.tasks.run(lambda: store.save_preference(CUSTOM_ACTIONS, record), None,
                       lambda e: self.sig_error.emit("Your writing action could not be saved: "
                                                     + storage_error_message(e)))
