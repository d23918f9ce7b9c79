"""The smoke mode with a history kept by the keyring, the real app and the real starter model:
the item there opens it and the reply is saved; the item gone is one line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cove.paths import app_paths
from cove.storage.store import ConversationStore, default_store_path
from tests.keyrings import FileKeyring, using_keyring

ROOT = Path(__file__).resolve().parents[2]


def keyring_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A Cove home whose history is kept by a keyring the child processes share."""
    home = tmp_path / "home"
    secrets = tmp_path / "keyring.json"
    monkeypatch.setenv("COVE_HOME", str(home))
    monkeypatch.setenv("COVE_TEST_KEYRING_FILE", str(secrets))
    with using_keyring(FileKeyring()), ConversationStore.open(
            default_store_path(app_paths().ensure())) as store:
        store.setup_with_keyring()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHON_KEYRING_BACKEND="tests.keyrings.FileKeyring",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("COVE_HOME", None)
    env.pop("COVE_PASSPHRASE", None)
    return home, env


def cove(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)


def test_the_keyring_opens_the_history_and_the_reply_is_saved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, starter_model: Path) -> None:
    home, env = keyring_home(tmp_path, monkeypatch)
    result = cove(home, env, "--smoke-test", "Hi", "--max-tokens", "4", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert "will not be saved" not in result.stderr
    listed = cove(home, env, "history", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("\n") == 1 and "\t2\t" in listed.stdout  # prompt and reply


def test_a_lost_keyring_item_is_one_line_and_a_non_zero_exit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, starter_model: Path) -> None:
    home, env = keyring_home(tmp_path, monkeypatch)
    (tmp_path / "keyring.json").write_text("{}")  # the item was deleted
    result = cove(home, env, "--smoke-test", "Hi", "--max-tokens", "4", "--seed", "1")
    assert result.returncode == 2, result.stderr
    said = [line for line in result.stderr.splitlines() if "key to this history is gone" in line]
    assert said == ["Cove smoke test: the conversation will not be saved (the key to this "
                    "history is gone from the system keyring: open Cove's window to unlock it "
                    "with your recovery key)"]
    assert json.loads(result.stdout.strip().splitlines()[-1])["tokens"] > 0  # still replied
    listed = cove(home, env, "history", "list")
    assert listed.returncode == 1
    assert listed.stderr.startswith("cove: The key to this history is gone")
    assert listed.stderr.count("\n") == 1
