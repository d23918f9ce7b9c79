"""Notes at scale: 5,000 notes of 500 words, timed the way the notes workspace uses them.

Builds an encrypted store in a temporary folder, then measures in a fresh process: unlock to
the notes list (every note decrypted, titled and sorted; each word count is stored with its
note when it is saved), a search of every note, Ask-my-notes retrieval (BM25 over every
passage), and typing into a 20,000-word note in the real editor (each key press and its
repaint, forced, with and without the autosave that follows typing).
Prints ONE JSON line; progress goes to stderr.

    .venv/bin/python benchmarks/notes_scale.py [--notes 5000] [--words 500]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import common
from storage_scale import timed_ms

from cove.notes.note import Note
from cove.notes.retrieval import NotesIndex
from cove.storage.crypto import KdfParams
from cove.storage.search import SearchIndex
from cove.storage.store import ConversationStore

PASSPHRASE = "benchmark passphrase for notes"
TARGET_UNLOCK_TO_LIST_MS = 300.0
TARGET_SEARCH_MS = 200.0
TARGET_RETRIEVAL_MS = 100.0
TARGET_KEYSTROKE_P99_MS = 16.0
TARGET_AUTOSAVE_RATIO = 1.25  # typing p99 with autosave / without, measured in this run
TARGET_RULES = {"target_unlock_to_list_ms": "at_most", "target_search_ms": "at_most",
                "target_retrieval_ms": "at_most", "target_keystroke_p99_ms": "at_most",
                "target_autosave_ratio": "at_most"}
SEARCH_WORD = "lighthouse"
QUESTION = "when does the lighthouse keeper repaint the lamp"
LONG_NOTE_WORDS = 20_000
KEYS = 200


def vocabulary(rng: random.Random) -> list[str]:
    return ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
            for _ in range(8000)]


def note_text(rng: random.Random, words: list[str], count: int) -> str:
    chosen = rng.choices(words, k=count)
    if rng.random() < 0.01:
        chosen[rng.randrange(count)] = SEARCH_WORD
    paragraphs = [" ".join(chosen[i:i + 80]) for i in range(0, count, 80)]
    return "# " + " ".join(chosen[:4]) + "\n\n" + "\n\n".join(paragraphs)


def build(folder: Path, notes: int, words: int) -> dict[str, object]:
    rng = random.Random(20251130)
    vocab = vocabulary(rng)
    started = time.perf_counter()
    with ConversationStore.open(folder / "cove.db") as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        now = time.time()
        for first in range(0, notes, 500):
            batch = [Note(note_text(rng, vocab, words), pinned=(first + n) % 700 == 0,
                          created=now - rng.uniform(0, 365 * 86400))
                     for n in range(min(500, notes - first))]
            store.notes.import_notes(batch)
            common.progress(f"built {first + len(batch)}/{notes} notes")
        store.notes.import_notes([Note("# Lamp\n\nThe lighthouse keeper repaints the lamp "
                                       "every spring, in April.")])
    return {"build_s": round(time.perf_counter() - started, 1),
            "db_mb": round((folder / "cove.db").stat().st_size / 2**20, 1)}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def keystrokes_ms(text: str, autosave: bool) -> list[float]:
    """Each key press into the real NoteEditor holding `text`, with its repaint forced; with
    `autosave`, the presenter's save path runs as it would (debounced, on a storage lane, then
    the note indexed again on the index lane once saves pause, as NotesSession does)."""
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtGui import QTextDocument
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QPlainTextDocumentLayout

    from cove.notes.note import word_count
    from cove.ui.notes.editor import NoteEditor
    from cove.ui.tasks import Lane, TaskManager

    app = QApplication.instance() or QApplication([])
    editor = NoteEditor()
    editor.resize(900, 700)
    document = QTextDocument(editor)
    document.setDocumentLayout(QPlainTextDocumentLayout(document))
    document.setPlainText(text)
    editor.use_document(document)
    editor.show()
    tasks = TaskManager()
    saved: list[int] = []
    if autosave:
        from PySide6.QtCore import QTimer

        # The presenter's timers and work: save on pause or within MAX_WAIT_MS, counts later.
        from cove.ui.notes.presenter import COUNT_MS, IDLE_MS, MAX_WAIT_MS
        from cove.ui.notes.session import INDEX_PAUSE_MS

        idle, wait, count, pause = QTimer(), QTimer(), QTimer(), QTimer()
        for timer, ms in ((idle, IDLE_MS), (wait, MAX_WAIT_MS), (count, COUNT_MS),
                          (pause, INDEX_PAUSE_MS)):
            timer.setSingleShot(True)
            timer.setInterval(ms)

        # What NotesSession does once saves pause: the note indexed again (for search and
        # Ask my notes), in its index lane.
        search, passages = SearchIndex(), NotesIndex()
        waiting: list[str] = []

        def index(body: str) -> None:
            search.add("notes", "long", body)
            passages.add("long", "Long note", body)

        index(text)  # as the build after unlocking left it

        def stored(size: int, body: str) -> None:
            saved.append(size)
            waiting[:] = [body]
            pause.start()

        def paused() -> None:
            body = waiting.pop()
            tasks.run(lambda: index(body), lane=Lane.INDEX)

        pause.timeout.connect(paused)

        def save() -> None:
            idle.stop()
            wait.stop()
            body = document.toPlainText()
            tasks.run(lambda: len(body.encode("utf-8")), lambda size: stored(size, body),
                      lane=Lane.STORAGE)

        idle.timeout.connect(save)
        wait.timeout.connect(save)
        count.timeout.connect(lambda: word_count(document.toPlainText()))

        def edited() -> None:
            idle.start()
            if not wait.isActive():
                wait.start()
            count.start()

        document.contentsChanged.connect(edited)
    app.processEvents()
    times = []
    for n in range(KEYS):
        begin = time.perf_counter()
        QTest.keyClick(editor, Qt.Key.Key_A if n % 7 else Qt.Key.Key_Space)
        editor.viewport().repaint()
        times.append((time.perf_counter() - begin) * 1000)
        # Keys come about every 50 ms when typing fast; the loop runs timers in between.
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    if autosave:
        pause.stop()  # a re-index not yet started is not part of the typing
    tasks.shutdown()
    editor.close()
    if autosave and not saved:
        raise RuntimeError("autosave never ran")
    return times


def measure(folder: Path) -> dict[str, object]:
    store = ConversationStore.open(folder / "cove.db")
    store.unlock_with_passphrase(PASSPHRASE)  # KDF at its floor: timed separately by design
    started = time.perf_counter()
    summaries = store.notes.list_notes()
    listed = time.perf_counter()
    notes = store.notes.all_notes()
    index, passages = SearchIndex(), NotesIndex()
    index.add_many(("notes", note.id, note.text) for note in notes)
    indexed = time.perf_counter()
    passages.add_many((note.id, note.title, note.text) for note in notes)
    passaged = time.perf_counter()
    search = [timed_ms(lambda: index.search(SEARCH_WORD, limit=200)) for _ in range(5)]
    miss = timed_ms(lambda: index.search("qqqqzzzzxx"))
    # The question, plus common words of these notes: long postings, the slow case.
    common_words = [w for w, _ in Counter(notes[1].text.split()).most_common(6)]
    question = QUESTION + " " + " ".join(common_words)
    retrieval = [timed_ms(lambda: passages.search(question)) for _ in range(5)]
    best = passages.search(question)[0]
    # A long note as people write one: paragraphs of about eighty words.
    words = notes[0].text.split()[:500] * (LONG_NOTE_WORDS // 500)
    long_text = "\n\n".join(" ".join(words[i:i + 80]) for i in range(0, len(words), 80))
    store.close()
    plain = keystrokes_ms(long_text, autosave=False)
    saving = keystrokes_ms(long_text, autosave=True)
    unlock_to_list = (listed - started) * 1000
    search_ms = max(statistics.median(search), miss)
    retrieval_ms = statistics.median(retrieval)
    keystroke_p99 = max(p99(plain), p99(saving))
    ratio = p99(saving) / p99(plain) if p99(plain) else 1.0
    return {
        "notes": len(summaries),
        "unlock_to_list_ms": round(unlock_to_list, 1),
        "target_unlock_to_list_ms": TARGET_UNLOCK_TO_LIST_MS,
        "unlock_to_list_ok": unlock_to_list < TARGET_UNLOCK_TO_LIST_MS,
        "search_ms": round(statistics.median(search), 1),
        "search_miss_full_scan_ms": round(miss, 1),
        "target_search_ms": TARGET_SEARCH_MS,
        "search_ok": search_ms < TARGET_SEARCH_MS,
        "retrieval_ms": round(retrieval_ms, 1),
        "retrieval_top_is_the_answer": "repaints the lamp" in best.text,
        "target_retrieval_ms": TARGET_RETRIEVAL_MS,
        "retrieval_ok": retrieval_ms < TARGET_RETRIEVAL_MS,
        "passages": len(passages),
        "search_index_build_s": round(indexed - listed, 2),
        "retrieval_index_build_s": round(passaged - indexed, 2),
        "keystroke_p50_ms": round(statistics.median(plain), 2),
        "keystroke_p99_ms": round(keystroke_p99, 2),
        "target_keystroke_p99_ms": TARGET_KEYSTROKE_P99_MS,
        "keystroke_ok": keystroke_p99 < TARGET_KEYSTROKE_P99_MS,
        "keystroke_autosave_p99_ms": round(p99(saving), 2),
        "autosave_ratio": round(ratio, 2),
        "target_autosave_ratio": TARGET_AUTOSAVE_RATIO,
        "autosave_ok": ratio <= TARGET_AUTOSAVE_RATIO,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="cove-notes-scale-") as temp:
        folder = Path(temp)
        built = build(folder, args.notes, args.words)
        common.progress("measuring in a fresh process")
        try:
            measured = common.run_child([os.path.abspath(__file__), "--measure", str(folder)],
                                        timeout=None)
        except common.ChildFailed as error:
            return common.emit_failure("notes_scale", f"measuring failed: {error}")
    print(json.dumps({"benchmark": "notes_scale", **measured, **built,
                      "target_rules": TARGET_RULES}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
