"""`cove history list|export`: what a person sees at a terminal, in a pipe and when things fail."""

from __future__ import annotations

import getpass
import io
import sqlite3
import sys
from pathlib import Path

import pytest

from cove.cli import history
from cove.cli.history import run_history
from cove.core.conversation import Message, Role
from cove.paths import AppPaths, app_paths
from cove.storage.crypto import KdfParams
from cove.storage.store import ConversationStore, default_store_path

PASSPHRASE = "tidal lantern orchard 42"
# A reply that retitles the terminal window, then clears the screen, then rings the bell.
HOSTILE = "Sure.\x1b]0;pwned\x07\x1b[2J\x9b31mDone\ttab\nnext line\r\nlast\x00"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def paths(cove_home: Path) -> AppPaths:
    return app_paths().ensure()


def make_history(paths: AppPaths, reply: str = "plain reply", title: str = "Plans") -> str:
    with ConversationStore.open(default_store_path(paths)) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        conversation = store.create_conversation(title)
        store.append_message(conversation, Message(Role.USER, "hello"))
        store.append_message(conversation, Message(Role.ASSISTANT, reply))
    return conversation


def run(command: list[str], paths: AppPaths, stdout: io.StringIO,
        monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "stdout", stdout)
    return run_history(command, paths)


# ---- terminal output is safe ------------------------------------------------------------------

def test_export_to_a_terminal_shows_control_characters_instead_of_obeying_them(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    conversation = make_history(paths, reply=HOSTILE)
    out = Terminal()
    assert run(["export", conversation], paths, out, monkeypatch) == 0
    shown = out.getvalue()
    assert "Sure.\\x1b]0;pwned\\x07\\x1b[2J\\x9b31mDone\ttab\nnext line\nlast\\x00" in shown
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_export_to_a_file_or_pipe_keeps_the_text_exactly(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    conversation = make_history(paths, reply=HOSTILE)
    out = Pipe()
    assert run(["export", conversation], paths, out, monkeypatch) == 0
    assert HOSTILE in out.getvalue()


def test_list_escapes_titles_at_a_terminal_only(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    conversation = make_history(paths, title="Title\x1b]0;pwned\x07")
    terminal, pipe = Terminal(), Pipe()
    assert run(["list"], paths, terminal, monkeypatch) == 0
    assert run(["list"], paths, pipe, monkeypatch) == 0
    assert terminal.getvalue() == f"{conversation}\t2\tTitle\\x1b]0;pwned\\x07\n"
    assert pipe.getvalue() == f"{conversation}\t2\tTitle\x1b]0;pwned\x07\n"


# ---- the passphrase prompt ---------------------------------------------------------------------

@pytest.fixture
def at_a_terminal(paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    monkeypatch.delenv("COVE_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    make_history(paths)
    return paths


def prompt_raising(error: BaseException):  # type: ignore[no-untyped-def]
    def prompt(_text: str = "") -> str:
        raise error
    return prompt


def test_ctrl_d_at_the_prompt_says_no_passphrase_was_typed(
        at_a_terminal: AppPaths, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(getpass, "getpass", prompt_raising(EOFError()))
    assert run(["list"], at_a_terminal, Pipe(), monkeypatch) == 1
    assert capsys.readouterr().err.strip() == (
        "cove: No passphrase was typed, so the history stays locked.")


def test_ctrl_c_at_the_prompt_stops_quietly(
        at_a_terminal: AppPaths, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(getpass, "getpass", prompt_raising(KeyboardInterrupt()))
    assert run(["list"], at_a_terminal, Pipe(), monkeypatch) == 130
    assert capsys.readouterr().err.strip() == "cove: Stopped; the history stays locked."


def test_a_passphrase_cut_short_by_the_terminal_says_how_to_give_it(
        at_a_terminal: AppPaths, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda _text="": "x" * 4095)
    assert run(["list"], at_a_terminal, Pipe(), monkeypatch) == 1
    err = capsys.readouterr().err
    assert "at most 4,095 characters" in err and "COVE_PASSPHRASE" in err
    assert "window" in err


def test_a_typed_passphrase_still_opens(at_a_terminal: AppPaths,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda _text="": PASSPHRASE)
    out = Pipe()
    assert run(["list"], at_a_terminal, out, monkeypatch) == 0
    assert out.getvalue().endswith("\t2\tPlans\n")


# ---- other failures are sentences ---------------------------------------------------------------

def test_a_passphrase_variable_that_is_not_utf8_is_refused_up_front(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    make_history(paths)
    monkeypatch.setenv("COVE_PASSPHRASE", "caf\udce9")  # os.environ's form of b"caf\xe9"
    opened: list[Path] = []
    monkeypatch.setattr(ConversationStore, "open", lambda path: opened.append(path))
    assert run(["list"], paths, Pipe(), monkeypatch) == 1
    assert opened == []
    assert capsys.readouterr().err.startswith("cove: COVE_PASSPHRASE is not valid UTF-8 text")


def test_export_of_a_row_with_an_edited_seq_shows_it_damaged(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    conversation = make_history(paths)
    with sqlite3.connect(default_store_path(paths)) as conn:
        conn.execute("UPDATE messages SET seq = 'x' WHERE seq = 1")
    conn.close()
    out = Pipe()
    assert run(["export", conversation], paths, out, monkeypatch) == 0
    assert out.getvalue().count("## Damaged message") == 2


def test_a_dropped_table_is_named(paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    make_history(paths)
    with sqlite3.connect(default_store_path(paths)) as conn:
        conn.execute("DROP TABLE conversations")
    conn.close()
    assert run(["list"], paths, Pipe(), monkeypatch) == 1
    err = capsys.readouterr().err
    assert "its conversations table is missing" in err and "Traceback" not in err


def test_a_weakened_key_record_is_explained(paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    make_history(paths)
    with sqlite3.connect(default_store_path(paths)) as conn:
        record = json.loads(conn.execute(
            "SELECT value FROM meta WHERE name = 'key_record'").fetchone()[0])
        record["kdf"]["iterations"] = 1
        conn.execute("UPDATE meta SET value = ? WHERE name = 'key_record'",
                     (json.dumps(record),))
    conn.close()
    assert run(["list"], paths, Pipe(), monkeypatch) == 1
    assert capsys.readouterr().err.strip() == (
        "cove: The key record asks for weaker protection than Cove allows; "
        "it may have been tampered with.")


def test_terminal_safe_leaves_ordinary_text_alone() -> None:
    text = "Café — naïve 日本語 🙂\ttabbed\nnew line"
    assert history.terminal_safe(text) == text


def test_a_lone_surrogate_in_a_reply_is_shown_not_a_crash(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    conversation = make_history(paths, reply="half an emoji \ud83d here")
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    assert run_history(["export", conversation], paths) == 0
    out.flush()
    assert b"half an emoji \\ud83d here" in out.buffer.getvalue()  # type: ignore[attr-defined]


def test_json_export_keeps_every_branch_and_markdown_the_one_shown(
        paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from cove.core.conversation import Conversation

    monkeypatch.setenv("COVE_PASSPHRASE", PASSPHRASE)
    with ConversationStore.open(default_store_path(paths)) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        conversation = Conversation()
        conversation_id = store.create_conversation("Colours",
                                                    conversation_id=conversation.id)
        for message in (Message(Role.USER, "Name a colour"), Message(Role.ASSISTANT, "Red")):
            store.append_message(conversation_id, conversation.add(message))
        conversation.branch_before(conversation.messages[1])
        store.append_message(conversation_id,
                             conversation.add(Message(Role.ASSISTANT, "Blue")))
    out = Pipe()
    assert run(["export", conversation_id], paths, out, monkeypatch) == 0
    assert "Blue" in out.getvalue() and "Red" not in out.getvalue()  # the branch shown
    out = Pipe()
    monkeypatch.setattr(sys, "stdout", out)
    assert run_history(["export", conversation_id], paths, "json") == 0
    exported = json.loads(out.getvalue())
    texts = {m["text"]: m["parent"] for m in exported["messages"]}
    question = exported["messages"][0]["id"]
    assert texts == {"Name a colour": "root", "Red": question, "Blue": question}
