"""Export all: every conversation and note as a Markdown file of its own, in a new folder.

The one way plaintext leaves the history in bulk, so only when the person asks, after the
warning (``EXPORT_ALL_WARNING``): files are created 0600 and folders 0700, nothing existing is
overwritten (the folder must be new or empty), and a failure or Cancel removes what was
written so far, so no half-export is left lying around. A conversation is written as the
window shows it (``conversation_export.as_markdown``: the branch shown); a note as written.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cove.notes.files import note_export_text
from cove.storage import conversation_export
from cove.storage.backup import BackupError
from cove.storage.store import ConversationStore

EXPORT_ALL_WARNING = (
    "The exported files are plain text: anyone who can read them can read your conversations "
    "and notes. Cove's own copy stays encrypted. Keep them somewhere private, and delete them "
    "when you are done.")
CONVERSATIONS = "Conversations"
NOTES = "Notes"
NAME_LIMIT = 80  # characters of a title kept in a file name

Progress = Callable[[int, int], None]  # (done, total); may raise to stop

# What Windows, macOS or Linux refuse in a file name, and control characters.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)),
             *(f"lpt{n}" for n in range(1, 10))}


class ExportFailed(BackupError):
    """The export could not be written; what was written so far was removed."""


@dataclass
class ExportAllResult:
    folder: Path
    conversations: int = 0
    notes: int = 0
    damaged_notes: int = 0  # notes that failed authentication: named, never written
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """The sentence shown when it is done (counts and the folder, never text)."""
        text = (f"Exported {self.conversations} conversations and {self.notes} notes as "
                f"Markdown to {self.folder}.")
        if self.damaged_notes:
            text += f" {self.damaged_notes} damaged notes could not be read and were left out."
        return f"{text} {EXPORT_ALL_WARNING}"


def file_name(title: str, fallback: str, used: set[str]) -> str:
    """A Markdown file name from `title`, safe on every system, not yet in `used` (compared
    without case, as macOS and Windows do), which it is added to."""
    stem = " ".join(_UNSAFE.sub(" ", title).split()).strip(" .")[:NAME_LIMIT].rstrip(" .")
    if not stem or stem.lower() in _RESERVED:
        stem = f"{stem} {fallback}".strip() if stem else fallback
    name, number = f"{stem}.md", 1
    while name.lower() in used:
        number += 1
        name = f"{stem} ({number}).md"
    used.add(name.lower())
    return name


def new_folder_in(parent: Path, when: float | None = None) -> Path:
    """A folder name in `parent` that is not taken yet: ``Cove export YYYY-MM-DD``."""
    stem = f"Cove export {time.strftime('%Y-%m-%d', time.localtime(when))}"
    folder, number = parent / stem, 1
    while folder.exists():
        number += 1
        folder = parent / f"{stem} ({number})"
    return folder


def export_all(store: ConversationStore, folder: Path,
               progress: Progress | None = None) -> ExportAllResult:
    """Write every conversation and note in `store` (unlocked) under `folder` (new or empty):
    ``Conversations/TITLE.md`` and ``Notes/TITLE.md``, 0600, each dated as last changed.
    Run it off the GUI thread."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportFailed(f"{folder} is not an empty folder. Choose a new or empty one, so "
                           "no file of yours is overwritten.")
    summaries = store.list_conversations()
    notes = store.notes.list_notes()
    result = ExportAllResult(folder)
    made: list[Path] = []  # folders made here, removed again if the export does not finish
    total, done = len(summaries) + len(notes), 0
    try:
        for path in (folder, folder / CONVERSATIONS, folder / NOTES):
            if not path.exists():
                path.mkdir(mode=0o700, parents=True)
                made.append(path)
        used: set[str] = set()
        for summary in summaries:
            name = file_name("" if summary.damaged else summary.title,
                             "Untitled conversation", used)
            text = conversation_export.as_markdown(store, summary.id)
            _write(folder / CONVERSATIONS / name, text, summary.updated, result)
            result.conversations += 1
            done += 1
            if progress is not None:
                progress(done, total)
        used = set()
        for note_summary in notes:
            if note_summary.damaged:
                result.damaged_notes += 1
            else:
                note = store.notes.load_note(note_summary.id)
                _write(folder / NOTES / file_name(note.title, "Untitled note", used),
                       note_export_text(note), note.updated, result)
                result.notes += 1
            done += 1
            if progress is not None:
                progress(done, total)
    except BaseException as error:
        for path in result.files:
            with contextlib.suppress(OSError):
                path.unlink()
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
        if isinstance(error, OSError):
            raise ExportFailed(f"Cove could not write the export ({error.strerror or error}). "
                               "The files written so far were removed.") from None
        raise
    return result


def _write(path: Path, text: str, when: float, result: ExportAllResult) -> None:
    # O_EXCL: two titles that a file system folds together never overwrite each other.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    result.files.append(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if when > 0:
        os.utime(path, (when, when))
