"""The real `cove notes` and `cove draft` commands in child processes, with a real encrypted
store and the real starter model: what a script reads on stdout, and sentences on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cove.paths import app_paths
from cove.storage.crypto import KdfParams
from cove.storage.store import ConversationStore, default_store_path
from tests.e2e.test_cli_messages import environment

PASSPHRASE = "a passphrase for the notes commands"
NOTE = ("# Team meeting\n\nour team meeting is moved to thursday because the room was booked. "
        "please bring the budget numbers and the list of open issues.\n")


def cove(home: Path, *args: str, stdin: str | None = None,
         passphrase: str = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None,
                          env=environment(COVE_PASSPHRASE=passphrase))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with ConversationStore.open(default_store_path(app_paths(home).ensure())) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
    return home


def test_import_list_and_export_round_trip(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "meeting.md"
    source.write_text(NOTE, encoding="utf-8")
    imported = cove(home, "notes", "import", str(source))
    assert imported.returncode == 0, imported.stderr
    note_id = imported.stdout.strip()
    assert len(note_id) == 16
    listed = cove(home, "notes", "list")
    assert listed.stdout == f"{note_id}\t26\tTeam meeting\n"
    exported = cove(home, "notes", "export", note_id)
    assert exported.stdout == NOTE
    missing = cove(home, "notes", "export", "0" * 16)
    assert missing.returncode == 1
    assert missing.stderr == "cove: No note has that id. `cove notes list` shows the ids.\n"


def test_bad_files_and_passphrases_are_sentences(home: Path, tmp_path: Path) -> None:
    binary = tmp_path / "photo.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = cove(home, "notes", "import", str(binary))
    assert result.returncode == 1
    assert result.stderr == ("cove: photo.md is not a text file (it holds binary data); "
                             "import .md or .txt files only.\n")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    assert "is not UTF-8 text" in cove(home, "notes", "import", str(latin)).stderr
    wrong = cove(home, "notes", "list", passphrase="not the passphrase")
    assert (wrong.returncode, wrong.stderr) == (1, "cove: That passphrase is not right.\n")
    usage = cove(home, "notes", "delete")
    assert usage.returncode == 2 and usage.stderr.startswith("cove: usage: cove notes list")
    assert "Traceback" not in usage.stderr + wrong.stderr + result.stderr


@pytest.mark.real_model
def test_draft_on_a_note_prints_the_result_and_stats_and_keeps_the_note(
        home: Path, tmp_path: Path) -> None:
    source = tmp_path / "meeting.md"
    source.write_text(NOTE, encoding="utf-8")
    note_id = cove(home, "notes", "import", str(source)).stdout.strip()
    result = cove(home, "draft", "bullets", "--note", note_id, "--seed", "7")
    assert result.returncode == 0, result.stderr
    *text, stats_line = result.stdout.rstrip("\n").split("\n")
    stats = json.loads(stats_line)
    assert stats["action"] == "bullets" and stats["model"].startswith("SmolLM2")
    assert stats["tokens"] > 0
    bullets = [line for line in text if line.lstrip().startswith(("- ", "* "))]
    assert len(bullets) >= 2, text  # a list (a small model may put a label line above it)
    assert cove(home, "notes", "export", note_id).stdout == NOTE  # never changed


@pytest.mark.real_model
def test_draft_from_standard_input_with_an_instruction(home: Path) -> None:
    result = cove(home, "draft", "instruction", "--instruction",
                  "Make this a polite reply declining the invitation", "--seed", "7",
                  stdin="Would you like to come to my birthday party on Saturday?\n")
    assert result.returncode == 0, result.stderr
    reply, stats_line = result.stdout.rstrip("\n").rsplit("\n", 1)
    assert json.loads(stats_line)["action"] == "instruction"
    assert reply.strip()
    unknown = cove(home, "draft", "translate", stdin="hi")
    assert unknown.returncode == 2 and "There is no writing action called 'translate'" in \
        unknown.stderr
    empty = cove(home, "draft", "summarize", stdin="  \n")
    assert empty.stderr == "cove: There is no text to work on: write something first.\n"
