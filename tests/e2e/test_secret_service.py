"""Cove's key in a real Secret Service (GNOME Keyring on a private D-Bus session): stored with a
label a person understands and Cove's name, found again, and told apart once it is deleted.

`make test` installs gnome-keyring and dbus when it runs as root (packaging/system-deps.sh);
elsewhere the test is skipped with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cove.storage.keys import KEYRING_APPLICATION, KEYRING_LABEL

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("gnome-keyring-daemon", "dbus-run-session")

CHILD = r"""
import json, sys
from pathlib import Path
import keyring, secretstorage
from cove.storage import keys
from cove.storage.store import ConversationStore

path = Path(sys.argv[1])
with ConversationStore.open(path) as store:
    store.setup_with_keyring(30)
    name = keys.keyring_entry_name(store.store_id)
backend = type(keyring.get_keyring()).__module__ + "." + type(keyring.get_keyring()).__name__
connection = secretstorage.dbus_init()
collection = secretstorage.get_default_collection(connection)
items = list(collection.search_items({"service": "Cove", "username": name}))
found = [{"label": item.get_label(), "application": item.get_attributes().get("application")}
         for item in items]
with ConversationStore.open(path) as store:
    store.unlock_with_keyring(30)
    unlocked = store.is_unlocked
for item in items:
    item.delete()  # what `secret-tool clear service Cove` does
missing = None
with ConversationStore.open(path) as store:
    try:
        store.unlock_with_keyring(30)
    except keys.KeyringSecretMissing as error:
        missing = str(error)
print(json.dumps({"backend": backend, "items": found, "unlocked": unlocked,
                  "missing": missing}))
"""


@pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS),
                    reason="gnome-keyring-daemon and dbus-run-session are not installed "
                           "(make test installs them with apt-get when it runs as root)")
def test_a_real_gnome_keyring_keeps_labels_finds_and_loses_coves_item(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON_KEYRING", "DBUS_", "GNOME_KEYRING", "COVE_"))}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_RUNTIME_DIR=str(runtime),
               PYTHONPATH=os.pathsep.join([str(ROOT / "app"), str(ROOT)]))
    # A new login keyring, created and unlocked with this password, on a private session bus.
    script = ('printf %s keyring-test-password | gnome-keyring-daemon --unlock '
              '--components=secrets >/dev/null && exec "$@"')
    result = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script, "sh", sys.executable, "-c", CHILD,
         str(tmp_path / "cove.db")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    if result.returncode != 0 and "SecretService" not in result.stdout + result.stderr:
        pytest.skip(f"GNOME Keyring did not start here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["backend"] == "keyring.backends.SecretService.Keyring"
    assert outcome["items"] == [{"label": KEYRING_LABEL, "application": KEYRING_APPLICATION}]
    assert outcome["unlocked"] is True
    assert outcome["missing"] is not None and "gone" in outcome["missing"]
