"""Notes in and out of files: import checks (size, binary, encoding) and private exports."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from cove.notes.note import Note

IMPORT_LIMIT_BYTES = 2 * 1024 * 1024  # a long book chapter; anything bigger is not a note
IMPORT_SUFFIXES = (".md", ".markdown", ".txt")
EXPORT_WARNING = ("The exported file is plain text: anyone who can read the file can read the "
                  "note. Cove's own copy stays encrypted.")


class ImportRefused(ValueError):
    """A file that cannot become a note; the message says why and what to do."""


def decode_note_file(name: str, data: bytes) -> str:
    """The text of an imported file: UTF-8 (with or without a byte-order mark) or UTF-16 with
    one. Anything else is refused with the place of the first bad byte, never guessed at."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRefused(f"{name} says it is UTF-16 but is damaged; nothing was "
                                "imported.") from None
    else:
        if b"\x00" in data[:8192]:
            raise ImportRefused(f"{name} is not a text file (it holds binary data); import "
                                ".md or .txt files only.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ImportRefused(
                f"{name} is not UTF-8 text (byte {error.start:,} is not valid UTF-8), so it "
                "was not imported rather than have letters garbled. Save it as UTF-8 in your "
                "editor and import it again.") from None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:8192]):
        raise ImportRefused(f"{name} is not a text file (it holds control characters); import "
                            ".md or .txt files only.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_note_file(path: Path, limit: int = IMPORT_LIMIT_BYTES) -> str:
    """The text of the .md or .txt file at `path`, checked as ``decode_note_file`` says."""
    if path.suffix.lower() not in IMPORT_SUFFIXES:
        raise ImportRefused(f"{path.name} is not a .md or .txt file; only those can be "
                            "imported as notes.")
    try:
        size = path.stat().st_size
        if size > limit:
            raise ImportRefused(f"{path.name} is {size / 1_048_576:.1f} MB; a note can be at "
                                f"most {limit / 1_048_576:.0f} MB. Split it and import the "
                                "parts.")
        data = path.read_bytes()
    except OSError as error:
        raise ImportRefused(f"{path.name} cannot be read ({error.strerror or error}).") from None
    return decode_note_file(path.name, data)


def note_export_text(note: Note) -> str:
    """The note as written, ending in one newline (Markdown and plain text alike)."""
    return note.text.rstrip("\n") + "\n"


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`, created readable by this user only (0600); an existing file
    keeps its own permissions, which the person chose."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
