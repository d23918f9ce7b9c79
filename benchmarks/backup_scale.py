"""Backup and restore at scale: 10,000 conversations with 200,000 messages, timed, and memory.

Builds two encrypted stores in a temporary folder, the full size and a tenth of it, then backs
each up and restores it in a fresh process of its own (peak RSS is per process). Flat memory
means the full-size peak is close to the tenth's, measured in the same run: the ratio is the
figure, not an absolute number of megabytes. Prints ONE JSON line; progress goes to stderr.

    .venv/bin/python benchmarks/backup_scale.py [--conversations 10000] [--messages 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import common
from storage_scale import generated_conversations, peak_rss_mb

from cove.storage.backup import create_backup, restore_backup
from cove.storage.crypto import KdfParams
from cove.storage.store import ConversationStore

PASSPHRASE = "benchmark passphrase for the store"
BACKUP_PASSPHRASE = "benchmark passphrase for the backup"
TARGET_BACKUP_S = 30.0
TARGET_RESTORE_S = 30.0
TARGET_MEMORY_RATIO = 1.5  # full-size peak RSS / a tenth's peak RSS, same run
TARGET_RULES = {"target_backup_s": "at_most", "target_restore_s": "at_most",
                "target_memory_ratio": "at_most"}


def build(folder: Path, conversations: int, messages: int) -> None:
    rng = random.Random(20251130)
    folder.mkdir(parents=True, exist_ok=True)
    with ConversationStore.open(folder / "cove.db") as store:
        store.setup_with_passphrase(PASSPHRASE, KdfParams.at_floor())
        for first in range(0, conversations, 500):
            count = min(500, conversations - first)
            store.import_conversations(generated_conversations(
                count, messages * count // conversations, rng))
        common.progress(f"built {conversations} conversations in {folder.name}")


def measure(folder: Path, step: str) -> dict[str, object]:
    """One step in this fresh process: 'backup' (the store to folder/backup) or 'restore'."""
    started = time.perf_counter()
    if step == "backup":
        with ConversationStore.open(folder / "cove.db") as store:
            store.unlock_with_passphrase(PASSPHRASE)
            started = time.perf_counter()  # the history's own unlock is not the backup's
            create_backup(store, folder / "backup", BACKUP_PASSPHRASE,
                          kdf_params=KdfParams.at_floor())
    else:
        restore_backup(folder / "backup", BACKUP_PASSPHRASE, folder / "restored.db",
                       kdf_params=KdfParams.at_floor())
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": peak_rss_mb(),
            "backup_mb": round((folder / "backup").stat().st_size / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1])))
        return 0
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="cove-backup-scale-") as temp:
        for name, share in (("tenth", 10), ("full", 1)):
            folder = Path(temp) / name
            build(folder, max(1, args.conversations // share), args.messages // share)
            for step in ("backup", "restore"):
                common.progress(f"{step}: {name}")
                try:
                    results[f"{name}_{step}"] = common.run_child(
                        [os.path.abspath(__file__), "--measure", str(folder), step],
                        timeout=None)
                except common.ChildFailed as error:
                    return common.emit_failure("backup_scale", f"{name} {step}: {error}")
    full_backup, full_restore = results["full_backup"], results["full_restore"]
    ratio = max(float(full_backup["peak_rss_mb"]) / float(results["tenth_backup"]["peak_rss_mb"]),
                float(full_restore["peak_rss_mb"])
                / float(results["tenth_restore"]["peak_rss_mb"]))
    print(json.dumps({
        "benchmark": "backup_scale",
        "conversations": args.conversations, "messages": args.messages,
        "backup_mb": full_backup["backup_mb"],
        "backup_s": full_backup["seconds"], "restore_s": full_restore["seconds"],
        "backup_peak_rss_mb": full_backup["peak_rss_mb"],
        "restore_peak_rss_mb": full_restore["peak_rss_mb"],
        "tenth_backup_peak_rss_mb": results["tenth_backup"]["peak_rss_mb"],
        "tenth_restore_peak_rss_mb": results["tenth_restore"]["peak_rss_mb"],
        "memory_ratio": round(ratio, 2),
        "target_backup_s": TARGET_BACKUP_S, "backup_ok": float(full_backup["seconds"])
        <= TARGET_BACKUP_S,
        "target_restore_s": TARGET_RESTORE_S, "restore_ok": float(full_restore["seconds"])
        <= TARGET_RESTORE_S,
        "target_memory_ratio": TARGET_MEMORY_RATIO, "memory_ok": ratio <= TARGET_MEMORY_RATIO,
        "target_rules": TARGET_RULES}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
