"""The real `cove backup` and `cove import` commands in child processes: a backup restored on a
fresh home, refusals that change nothing, SIGKILL during a restore, and a ChatGPT import."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cove.core.conversation import Message, Role
from cove.paths import app_paths
from cove.storage.backup import create_backup
from cove.storage.crypto import KdfParams
from cove.storage.store import ConversationStore, default_store_path
from tests.e2e.test_cli_messages import environment

PASSPHRASE = "history passphrase for the backup commands"
BACKUP_PASSPHRASE = "a different passphrase for the backup"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "import"


def cove(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env=environment(**extra))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_home(home: Path, conversations: int = 2, words: int = 20) -> Path:
    path = default_store_path(app_paths(home).ensure())
    with ConversationStore.open(path) as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        for number in range(conversations):
            conversation = store.create_conversation(f"Trip {number}")
            store.append_message(conversation, Message(Role.USER, "where next? " * words))
            store.append_message(conversation, Message(Role.ASSISTANT, "the coast " * words))
        store.notes.create_note("packing list: boots")
    return path


def test_backup_then_restore_on_a_new_machine(tmp_path: Path) -> None:
    make_home(tmp_path / "old")
    backup = tmp_path / "cove.covebackup"
    made = cove(tmp_path / "old", "backup", "create", str(backup),
                COVE_PASSPHRASE=PASSPHRASE, COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Backed up 2 conversations (4 messages) and 1 notes to ")
    assert backup.stat().st_mode & 0o777 == 0o600

    restored = cove(tmp_path / "new", "backup", "restore", str(backup),
                    COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    assert restored.returncode == 0, restored.stderr
    assert "Restored 2 conversations (4 messages) and 1 notes." in restored.stdout
    listed = cove(tmp_path / "new", "history", "list", COVE_PASSPHRASE=BACKUP_PASSPHRASE)
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split("\t")[2] for line in listed.stdout.splitlines()) == [
        "Trip 0", "Trip 1"]


def test_refusals_change_nothing(tmp_path: Path) -> None:
    store = make_home(tmp_path / "home")
    before = digest(store)
    backup = tmp_path / "b.covebackup"
    assert cove(tmp_path / "home", "backup", "create", str(backup), COVE_PASSPHRASE=PASSPHRASE,
                COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE).returncode == 0
    wrong = cove(tmp_path / "home", "backup", "restore", str(backup),
                 COVE_BACKUP_PASSPHRASE="not it")
    assert wrong.returncode == 1
    assert wrong.stderr == ("cove: That passphrase does not open this backup. Nothing was "
                            "changed.\n")
    backup.write_bytes(backup.read_bytes()[:-10])
    cut = cove(tmp_path / "home", "backup", "restore", str(backup),
               COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    assert cut.returncode == 1 and "cut short" in cut.stderr
    no_terminal = cove(tmp_path / "home", "backup", "restore", str(backup))
    assert no_terminal.returncode == 1 and "COVE_BACKUP_PASSPHRASE" in no_terminal.stderr
    usage = cove(tmp_path / "home", "backup", "copy")
    assert usage.returncode == 2 and usage.stderr.startswith("cove: usage: cove backup")
    assert digest(store) == before
    assert [p.name for p in store.parent.iterdir() if p.name.startswith("cove.db")] == [
        "cove.db"]


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0, 1.5, 2.5])
def test_sigkill_during_restore_leaves_one_whole_history(tmp_path: Path, delay: float) -> None:
    source = make_home(tmp_path / "source", conversations=300, words=60)
    backup = tmp_path / "big.covebackup"
    with ConversationStore.open(source) as store:
        store.unlock_with_passphrase(PASSPHRASE)
        create_backup(store, backup, BACKUP_PASSPHRASE, kdf_params=KdfParams.at_floor())
    current = make_home(tmp_path / "home", conversations=1)
    before = digest(current)
    child = subprocess.Popen(
        [sys.executable, "-m", "cove", "--home", str(tmp_path / "home"), "backup", "restore",
         str(backup)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=environment(COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE))
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    kept = [p for p in current.parent.iterdir() if ".before-restore-" in p.name
            and p.name.startswith("cove.db") and not p.name.endswith(("-wal", "-shm"))]
    if digest(current) == before:
        return  # killed before the swap: the old history is in place, untouched
    # Killed after the swap: the restored history is whole, and the old one kept beside it.
    assert [digest(p) for p in kept] == [before]
    with ConversationStore.open(current) as store:
        store.unlock_with_passphrase(BACKUP_PASSPHRASE)
        assert len(store.list_conversations()) == 300


def test_import_chatgpt_into_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    imported = cove(home, "import", "chatgpt", str(FIXTURES / "chatgpt-conversations.json"),
                    COVE_PASSPHRASE=PASSPHRASE)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("Imported 2 conversations (7 messages, 1 of them on other "
                                      "branches) from the ChatGPT export. Skipped: 1 "
                                      "attachment, 1 image,")
    listed = cove(home, "history", "list", COVE_PASSPHRASE=PASSPHRASE)
    assert sorted(line.split("\t", 2)[2] for line in listed.stdout.splitlines()) == [
        "Sourdough starter while travelling", "Welsh greeting"]
    sourdough = next(line.split("\t")[0] for line in listed.stdout.splitlines()
                     if line.endswith("travelling"))
    exported = cove(home, "history", "export", sourdough, "--format", "json",
                    COVE_PASSPHRASE=PASSPHRASE)
    tree = json.loads(exported.stdout)
    assert len(tree["messages"]) == 5  # the regenerated reply's older version too
    assert tree["leaf"] == tree["messages"][-1]["id"]
    shown = cove(home, "history", "export", sourdough, COVE_PASSPHRASE=PASSPHRASE).stdout
    assert "Give it a thick feeding" in shown and "Feed it, then refrigerate" not in shown
    broken = tmp_path / "conversations.json"
    broken.write_text('[{"title": "x", "mapping": {}')
    failed = cove(home, "import", "chatgpt", str(broken), COVE_PASSPHRASE=PASSPHRASE)
    assert failed.returncode == 1
    assert failed.stderr.startswith("cove: ChatGPT export (conversations.json, line 1, column")
    assert "Traceback" not in failed.stderr


def test_a_real_model_conversation_survives_backup_and_restore(tmp_path: Path,
                                                               starter_model: Path) -> None:
    """The path that matters end to end: a reply from the real starter model, saved by the
    window, backed up, restored on a fresh home, and exported the same, with no plaintext
    canary in the backup or either home."""
    canary = "Quokkacanary5521"
    old = tmp_path / "old"
    said = cove(old, "--smoke-test", f"Repeat after me exactly: {canary}", "--max-tokens",
                "24", "--seed", "2", COVE_PASSPHRASE=PASSPHRASE)
    assert said.returncode == 0, said.stderr
    listed = cove(old, "history", "list", COVE_PASSPHRASE=PASSPHRASE)
    conversation_id = listed.stdout.split("\t")[0]
    before = cove(old, "history", "export", conversation_id, COVE_PASSPHRASE=PASSPHRASE)
    assert "SmolLM2-135M-Instruct" in before.stdout  # the real model's reply and its name

    backup = tmp_path / "all.covebackup"
    assert cove(old, "backup", "create", str(backup), COVE_PASSPHRASE=PASSPHRASE,
                COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE).returncode == 0
    new = tmp_path / "new"
    restored = cove(new, "backup", "restore", str(backup),
                    COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    assert restored.returncode == 0, restored.stderr
    after = cove(new, "history", "export", conversation_id,
                 COVE_PASSPHRASE=BACKUP_PASSPHRASE)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    for place in (backup, old, new):
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
        assert not [p for p in files if canary.encode() in p.read_bytes()]


def test_restore_waits_for_the_window_to_close(tmp_path: Path) -> None:
    """A running Cove keeps writing to the file it opened: restoring under it is refused."""
    from cove.instance import claim

    store = make_home(tmp_path / "home")
    backup = tmp_path / "b.covebackup"
    assert cove(tmp_path / "home", "backup", "create", str(backup), COVE_PASSPHRASE=PASSPHRASE,
                COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE).returncode == 0
    before = digest(store)
    running = claim(app_paths(tmp_path / "home").data)
    assert running is not None
    try:
        refused = cove(tmp_path / "home", "backup", "restore", str(backup),
                       COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    finally:
        running.close()
    assert refused.returncode == 1 and "Close it first" in refused.stderr
    assert digest(store) == before
    allowed = cove(tmp_path / "home", "backup", "restore", str(backup),
                   COVE_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE)
    assert allowed.returncode == 0, allowed.stderr


def test_export_all_writes_private_markdown_files_and_never_over_them(tmp_path: Path) -> None:
    make_home(tmp_path / "home")
    folder = tmp_path / "export"
    exported = cove(tmp_path / "home", "backup", "export-all", str(folder),
                    COVE_PASSPHRASE=PASSPHRASE)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"Exported 2 conversations and 1 notes as Markdown to "
                                      f"{folder}.")
    assert "plain text" in exported.stdout
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.md"))
    assert files == ["Conversations/Trip 0.md", "Conversations/Trip 1.md",
                     "Notes/packing list boots.md"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.rglob("*.md"))
    assert "the coast" in (folder / "Conversations" / "Trip 0.md").read_text()
    again = cove(tmp_path / "home", "backup", "export-all", str(folder),
                 COVE_PASSPHRASE=PASSPHRASE)
    assert again.returncode == 1 and "not an empty folder" in again.stderr
