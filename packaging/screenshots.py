"""Make the README's screenshots of the real app, in light and dark: `make screenshots`.

Runs Cove itself (its own start-up, passphrase unlock, the starter model) under a virtual
display, on a throw-away home folder seeded with a few conversations, and saves what the
window shows to docs/img/cove-light.png and docs/img/cove-dark.png. `notes` seeds a few notes
too, shows the notes workspace and has the starter model rewrite a paragraph, under review,
into docs/img/notes.png (`notes dark OUT.png`: the same in the dark theme, for a look).
Re-run it whenever the look changes. It needs a display: `make screenshots` wraps it in
xvfb-run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

PASSPHRASE = "screenshots only, thrown away"  # a throw-away folder's key
MODEL = "SmolLM2-135M-Instruct"
SIZE = (1280, 800)
DAY = 86400.0

SHOWCASE_QUESTION = "How do I add up one column of a CSV file in Python?"
SHOWCASE_ANSWER = """\
Use the `csv` module from the standard library. `DictReader` gives you each row as a \
dictionary, so you can pick the column by its header:

```python
import csv

with open("expenses.csv", newline="") as file:
    total = sum(float(row["amount"]) for row in csv.DictReader(file))

print(f"Total: {total:.2f}")
```

For a file like this one:

| date       | item     | amount |
|------------|----------|-------:|
| 2026-11-02 | Train    |  23.50 |
| 2026-11-04 | Lunch    |  12.80 |

the script prints `Total: 36.30`.

> Tip: if some cells are empty, skip them with `if row["amount"]`.
"""

OTHERS = [  # (title, first message, age in days, pinned)
    ("Packing list for Lisbon", "Make me a packing list for four days in Lisbon.", 3, True),
    ("Summarise my meeting notes", "Summarise these notes in five bullet points.", 0.1, False),
    ("Birthday poem for Grandma", "Write a short birthday poem for my grandmother.", 1, False),
    ("TCP and UDP, simply", "Explain the difference between TCP and UDP simply.", 4, False),
    ("Regular expression for postcodes", "A regex that matches UK postcodes?", 5, False),
    ("Cover letter draft", "Help me draft a cover letter for a library job.", 40, False),
]


def seed(home: Path, colour_theme: str) -> str:
    """A history with a showcase conversation and a few others; returns the showcase id."""
    os.environ["COVE_HOME"] = str(home)
    from cove.core.conversation import Message, ReplyStats, Role
    from cove.paths import app_paths
    from cove.storage.store import ConversationStore, ImportedConversation, default_store_path

    paths = app_paths().ensure()
    store = ConversationStore.open(default_store_path(paths))
    store.setup_with_passphrase(PASSPHRASE)
    now = time.time()
    conversations = [
        ImportedConversation(
            [Message(Role.USER, first, created=now - age * DAY),
             Message(Role.ASSISTANT, "Sure.", model=MODEL, created=now - age * DAY + 5)],
            title=title, pinned=pinned, created=now - age * DAY, updated=now - age * DAY)
        for title, first, age, pinned in OTHERS
    ]
    stats = ReplyStats(MODEL, tokens=164, seconds=3.9, tokens_per_second=42.1,
                       ttft_seconds=0.18)
    question = Message(Role.USER, SHOWCASE_QUESTION, created=now - 90, parent="root")
    conversations.append(ImportedConversation(
        [question,
         # An earlier version of the reply, regenerated: the window shows "< 2/2 >".
         Message(Role.ASSISTANT, "With pandas: `pandas.read_csv(path)[\"amount\"].sum()`.",
                 model=MODEL, stats=stats, created=now - 85, parent=question.id),
         Message(Role.ASSISTANT, SHOWCASE_ANSWER, model=MODEL, stats=stats, created=now - 55,
                 parent=question.id)],
        title="Add up a CSV column", created=now - 90, updated=now - 55))
    ids = store.import_conversations(conversations)
    store.close()
    (paths.config / "settings.json").write_text(json.dumps(
        {"theme": colour_theme, "last_conversation": ids[-1]}), encoding="utf-8")
    return ids[-1]


NOTES = [  # (text, age in days, pinned)
    ("# Reading list\n\n- [ ] The Left Hand of Darkness\n- [x] Piranesi\n- [ ] Middlemarch\n",
     6, True),
    ("# Team meeting\n\nour team meeting is moved to thursday because the room was booked. "
     "please bring the budget numbers and the list of open issues, we will decide which "
     "features ship in march.\n", 0.05, False),
    ("# Letter to Ana\n\nDear Ana,\n\nThank you for the photos from the coast. The one of "
     "the lighthouse at dusk is on my desk now.\n", 0.2, False),
    ("# Trip to Lisbon\n\n- Tram 28 early, before the queues\n- Pastéis in Belém\n"
     "- Sunset at the Miradouro da Graça\n", 1, False),
    ("# Ideas for the garden\n\nA rain barrel by the shed; lavender along the path; a small "
     "bench under the apple tree.\n", 9, False),
]


def seed_notes(home: Path) -> None:
    """A few notes in the seeded history (the first is pinned; the second is rewritten)."""
    from cove.notes.note import Note
    from cove.paths import app_paths
    from cove.storage.store import ConversationStore, default_store_path

    os.environ["COVE_HOME"] = str(home)
    store = ConversationStore.open(default_store_path(app_paths()))
    store.unlock_with_passphrase(PASSPHRASE)
    now = time.time()
    store.notes.import_notes(Note(text, pinned, created=now - age * DAY - 3600,
                                  updated=now - age * DAY) for text, age, pinned in NOTES)
    store.close()


def shoot_notes(colour_theme: str, out: Path) -> None:
    """The notes workspace: the meeting note open, the starter model's rewrite under review."""
    with tempfile.TemporaryDirectory(prefix="cove-shots-") as folder:
        seed(Path(folder), colour_theme)
        seed_notes(Path(folder))
        os.environ["COVE_PASSPHRASE"] = PASSPHRASE
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0]])
        deadline = time.monotonic() + 180

        def presenter() -> object:
            from cove.ui.chat.window import MainWindow
            from cove.ui.notes.presenter import NotesPresenter

            window = next((w for w in app.topLevelWidgets() if isinstance(w, MainWindow)
                           and w.isVisible()), None)
            return None if window is None else window.findChild(NotesPresenter)

        def when_ready() -> None:
            from cove.notes.actions import find_action
            from cove.ui.notes.presenter import NotesPresenter
            from cove.ui.notes.workspace import Roles

            notes = presenter()
            ready = (isinstance(notes, NotesPresenter) and notes.session.ready
                     and notes.controller.ready and notes.workspace.model.rowCount() >= 5)
            if not ready:
                if time.monotonic() > deadline:
                    raise SystemExit("Cove's notes did not open")
                QTimer.singleShot(250, when_ready)
                return
            assert isinstance(notes, NotesPresenter)
            notes.window.resize(*SIZE)
            notes.toggle()
            model = notes.workspace.model
            meeting = next(str(model.index(row).data(Roles.ID)) for row in range(model.rowCount())
                           if model.index(row).data() == "Team meeting")

            def opened() -> None:
                if notes.current_id != meeting:
                    QTimer.singleShot(100, opened)
                    return
                editor = notes.workspace.editor
                start = editor.toPlainText().index("our team")
                editor.select_range(start, len(editor.toPlainText()))
                notes.host.sig_finished.connect(lambda *_: QTimer.singleShot(
                    800, lambda: finish(notes)))
                notes.run_action(find_action("rewrite"))

            notes.open(meeting)
            opened()

        def finish(notes: object) -> None:
            from cove.ui.notes.presenter import NotesPresenter

            assert isinstance(notes, NotesPresenter)
            review = notes.workspace.review
            if review.changes_list.count() > 1:
                review.set_accepted(1, False)  # one change refused, as a person reviews
            notes.workspace.delegate.hovered_row = 2  # a row's "…", as under the mouse
            notes.workspace.list_view.viewport().update()
            QTimer.singleShot(400, lambda: save(notes))

        def save(notes: object) -> None:
            from cove.ui.notes.presenter import NotesPresenter

            assert isinstance(notes, NotesPresenter)
            out.parent.mkdir(parents=True, exist_ok=True)
            notes.window.grab().save(str(out))
            print(f"wrote {out}")
            notes.discard()
            notes.window.close()

        QTimer.singleShot(500, when_ready)
        from cove.cli.main import main

        main(["--home", folder])


def shoot(colour_theme: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="cove-shots-") as folder:
        seed(Path(folder), colour_theme)
        os.environ["COVE_PASSPHRASE"] = PASSPHRASE
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0]])
        deadline = time.monotonic() + 120

        def when_ready() -> None:
            from cove.ui.chat.window import MainWindow

            window = next((w for w in app.topLevelWidgets() if isinstance(w, MainWindow)
                           and w.isVisible()), None)
            ready = (window is not None and window.splitter.isEnabled()
                     and window.composer.ready
                     and window.controller.model.rowCount() >= 2
                     and window.model_combo.currentIndex() >= 0)
            if not ready and time.monotonic() < deadline:
                QTimer.singleShot(250, when_ready)
                return
            if window is None:
                raise SystemExit("Cove's window did not open")
            window.resize(*SIZE)
            window.composer.set_text("Can you make it skip the header row of a plain CSV?")
            view = window.chat_view
            view.itemDelegate().hovered_row = 1  # the reply's actions, as under the mouse
            QTimer.singleShot(1200, lambda: save(window))

        def save(window: object) -> None:
            from cove.ui.chat.window import MainWindow

            assert isinstance(window, MainWindow)
            out.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(out))
            print(f"wrote {out.relative_to(ROOT)}")
            window.close()

        QTimer.singleShot(500, when_ready)
        from cove.cli.main import main

        main(["--home", folder])


if __name__ == "__main__":
    target = ROOT / "docs" / "img"
    choice = sys.argv[1] if len(sys.argv) > 1 else ""
    if choice == "notes":
        dark = sys.argv[2:3] == ["dark"]
        shoot_notes("dark" if dark else "light",
                    Path(sys.argv[3]).resolve() if dark and len(sys.argv) > 3
                    else target / "notes.png")
    elif choice in ("light", "dark"):
        shoot(choice, target / f"cove-{choice}.png")
    else:
        raise SystemExit("usage: screenshots.py light|dark|notes [dark OUT.png] (make "
                         "screenshots runs all three)")
