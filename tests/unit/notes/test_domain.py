"""The notes domain: titles and counts, list continuation, the review diff, file checks."""

from __future__ import annotations

import os
import random
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cove.notes.diff import apply_blocks, changes, diff_blocks
from cove.notes.editing import EnterResult, on_enter
from cove.notes.files import (
    ImportRefused,
    decode_note_file,
    note_export_text,
    read_note_file,
    write_private,
)
from cove.notes.note import UNTITLED, WIDE_SPACES, Note, NoteSummary, title_of, word_count


def test_title_is_the_first_line_with_words_without_marks() -> None:
    assert title_of("\n\n## Trip to Lisbon  \nday one") == "Trip to Lisbon"
    assert title_of("- buy milk\n- eggs") == "buy milk"
    assert title_of("   \n") == UNTITLED
    assert title_of("word " * 40).endswith("…")
    assert len(title_of("word " * 40)) == 80


def test_counts_and_list_order() -> None:
    assert word_count("Hello,  world!\nÜber   café") == 4
    assert word_count("") == 0
    old_pinned = Note("a", pinned=True, created=1.0)
    new = Note("b", created=3.0)
    old = Note("c", created=2.0)
    ordered = sorted([n.summary() for n in (old, new, old_pinned)], key=NoteSummary.list_order)
    assert [s.title for s in ordered] == ["a", "b", "c"]
    assert new.summary().chars == 1


def test_wide_spaces_are_every_space_above_ascii() -> None:
    spaces = "".join(chr(c) for c in range(128, sys.maxunicode + 1) if chr(c).isspace())
    assert spaces == WIDE_SPACES


def test_word_count_counts_as_str_split_does() -> None:
    """The fast count against len(text.split()) on random text of every kind of space (ASCII,
    the control separators str.split also splits at, wide ones), letters of one to four UTF-8
    bytes, and a lone surrogate."""
    rng = random.Random(13)
    alphabet = "ab \n\t\r\x0b\x0c\x1c\x1f\x00-é日\U0001F600\ud800\u200b" + WIDE_SPACES
    texts = ["", " ", "a", " a ", "\x1fa\x1cb", "日本語 テキスト", "a\u3000b", "a\xa0b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
              for _ in range(3000)]
    texts += ["".join(rng.choice("ab \n-é日") for _ in range(rng.randint(0, 40)))
              for _ in range(1000)]  # no wide space: the byte count
    for text in texts:
        assert word_count(text) == len(text.split()), repr(text)


@pytest.mark.parametrize(("line", "expected"), [
    ("- milk", EnterResult("- ")),
    ("  * nested", EnterResult("  * ")),
    ("3. third", EnterResult("4. ")),
    ("9) ninth", EnterResult("10) ")),
    ("- [x] done", EnterResult("- [ ] ")),
    ("- ", EnterResult("", end_list=True)),
    ("2. ", EnterResult("", end_list=True)),
    ("- [ ] ", EnterResult("", end_list=True)),
    ("> quoted", EnterResult("> ")),
    (">", EnterResult("", end_list=True)),
    ("    code", EnterResult("    ")),
    ("# Heading", EnterResult("")),
    ("plain", EnterResult("")),
])
def test_enter_continues_lists_and_quotes(line: str, expected: EnterResult) -> None:
    assert on_enter(line) == expected


def test_diff_groups_a_rewritten_phrase_and_applies_choices() -> None:
    original = "The cat sat on the mat. It was happy."
    result = "The big cat sat on a red mat. It was very happy!"
    blocks = diff_blocks(original, result)
    assert "".join(b.old for b in blocks) == original
    assert "".join(b.new for b in blocks) == result
    changed = changes(blocks)
    assert blocks[changed[0]].kind == "insert"
    assert apply_blocks(blocks, set(changed)) == result
    assert apply_blocks(blocks, set()) == original
    # "a red" replacing "the" is one decision, not one per word.
    assert any(blocks[i].old == "the" and blocks[i].new == "a red" for i in changed)
    only_first = apply_blocks(blocks, {changed[0]})
    assert only_first == "The big cat sat on the mat. It was happy."


@given(st.text(alphabet="ab .\n", max_size=40), st.text(alphabet="ab .\n", max_size=40),
       st.sets(st.integers(0, 40)))
def test_diff_round_trips_any_choice(original: str, result: str, accepted: set[int]) -> None:
    blocks = diff_blocks(original, result)
    assert apply_blocks(blocks, set(changes(blocks))) == result
    assert apply_blocks(blocks, set()) == original
    assert isinstance(apply_blocks(blocks, accepted), str)


def test_import_reads_utf8_bom_and_utf16(tmp_path: Path) -> None:
    assert decode_note_file("a.md", "\ufeff# Café\r\nline".encode()) == "# Café\nline"
    assert decode_note_file("a.txt", "# Café".encode("utf-16")) == "# Café"
    path = tmp_path / "note.md"
    path.write_text("# Hello\n", encoding="utf-8")
    assert read_note_file(path) == "# Hello\n"


@pytest.mark.parametrize(("name", "data", "words"), [
    ("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    ("latin.txt", "caf\xe9 au lait".encode("latin-1"), "byte 3 is not valid UTF-8"),
    ("ctl.txt", b"hello \x1b[31m red", "control characters"),
])
def test_import_refuses_binary_and_bad_encodings(tmp_path: Path, name: str, data: bytes,
                                                  words: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImportRefused, match=words):
        read_note_file(path)


def test_import_refuses_big_and_other_files(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 2000)
    with pytest.raises(ImportRefused, match="at most"):
        read_note_file(big, limit=1000)
    other = tmp_path / "sheet.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(ImportRefused, match=r"\.md or \.txt"):
        read_note_file(other)
    with pytest.raises(ImportRefused, match="cannot be read"):
        read_note_file(tmp_path / "missing.md")


def test_export_is_private(tmp_path: Path) -> None:
    target = write_private(tmp_path / "out.md", note_export_text(Note("# Title\n\nBody\n\n")))
    assert target.read_text(encoding="utf-8") == "# Title\n\nBody\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
