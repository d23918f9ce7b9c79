"""Encrypted backups: every table of the history, the settings and the model list in one file.

The layout is in docs/backup-format.md. In short: a clear header (magic, format version,
Argon2id parameters) closed by an HMAC, then the payload in chunks sealed with AES-256-GCM the
way age's STREAM does it: each chunk's nonce is its sequence number and a final-chunk flag, so
a chunk moved, swapped, dropped or cut off fails to open. Nothing is written in the clear
and nothing is held whole in memory: rows are read, encoded and sealed a chunk at a time.

The payload is JSON lines: a ``begin`` record (schema version, store id, the data key), then
for each table a ``table`` record and its ``row`` records exactly as stored (the bodies stay
sealed under the data key, so a damaged row stays damaged), the files (``settings.json``,
``models.json``), and an ``end`` record with the counts. Tables are read generically, so a
table a later schema adds is carried without a format change.

A restore reads the whole file once to check it (nothing is touched), builds a new store
beside the current one from a second reading, wraps the data key under the backup's
passphrase, and only then swaps it in with one rename; the old file stays as
``cove.db.before-restore-STAMP``.

Public API: ``create_backup``, ``check_backup``, ``restore_backup``, ``BackupWriter``,
``read_backup``, ``BackupSummary``; errors ``BackupError`` and its subclasses.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cove import __version__
from cove.core.fsutil import fsync_dir
from cove.paths import AppPaths
from cove.storage import keys
from cove.storage.crypto import (
    KEY_BYTES,
    TAG_BYTES,
    KdfParams,
    WeakKdfParameters,
    calibrate_argon2id,
    derive_kek,
)
from cove.storage.schema import META_KEY_RECORD, SCHEMA_VERSION, open_file, sidecars
from cove.storage.store import ConversationStore

log = logging.getLogger(__name__)

MAGIC = b"COVE-BAK"
FORMAT_VERSION = 1
CHUNK_BYTES = 64 * 1024  # plaintext per chunk, as age
SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES
MAC_BYTES = 32
MAX_HEADER_BYTES = 4096
PASSPHRASE_ENV = "COVE_BACKUP_PASSPHRASE"
FILES = ("settings.json", "models.json")  # carried beside the tables; models themselves are not
_HEAD = struct.Struct(">8sBH")  # magic, format version, header JSON length
_ROWS_PER_READ = 500

Progress = Callable[[int, int], None]  # (done, total); may raise to stop


class BackupError(Exception):
    """A backup cannot be made or used; the message says why and what to do."""


class NotABackup(BackupError):
    def __init__(self) -> None:
        super().__init__("This file is not a Cove backup.")


class BackupTooNew(BackupError):
    def __init__(self) -> None:
        super().__init__("This backup was made by a newer version of Cove. Update Cove, then "
                         "restore it. Nothing was changed.")


class WrongBackupPassphrase(BackupError):
    def __init__(self) -> None:
        super().__init__("That passphrase does not open this backup. Nothing was changed.")


class BackupDamaged(BackupError):
    """A chunk failed to open: changed, swapped, reordered, or the file was cut short."""


def _damaged(index: int) -> BackupDamaged:
    return BackupDamaged(f"This backup is damaged: part {index + 1} was changed or moved, so "
                         "it cannot be trusted. Nothing was changed.")


def _truncated() -> BackupDamaged:
    return BackupDamaged("This backup is incomplete: the file was cut short (a copy that did "
                         "not finish?). Nothing was changed.")


def backup_passphrase_from_environment() -> str | None:
    """COVE_BACKUP_PASSPHRASE, for automation (like COVE_PASSPHRASE for the history)."""
    return os.environ.get(PASSPHRASE_ENV) or None


# ---- the sealed stream -----------------------------------------------------------------------

def _subkey(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"cove-backup-v1 " + purpose).derive(kek)


def _nonce(index: int, last: bool) -> bytes:
    # STREAM: an 11-byte big-endian chunk counter and one byte that is 1 only on the last chunk.
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _header(params: KdfParams) -> bytes:
    text = json.dumps({"kdf": params.to_dict(), "chunk_bytes": CHUNK_BYTES},
                      sort_keys=True).encode()
    return _HEAD.pack(MAGIC, FORMAT_VERSION, len(text)) + text


def _keys(passphrase: str, params: KdfParams) -> tuple[bytes, bytes]:
    """(header MAC key, payload key) from the passphrase."""
    kek = derive_kek(passphrase, params)
    return _subkey(kek, b"header"), _subkey(kek, b"payload")


class BackupWriter:
    """Seals what is written into chunks as it comes; ``close()`` seals the last one.

    At most one chunk and one record wait in memory (``peak_buffered`` says how much did)."""

    def __init__(self, out: IO[bytes], passphrase: str,
                 kdf_params: KdfParams | None = None) -> None:
        if not passphrase:
            raise BackupError("A backup needs a passphrase.")
        params = kdf_params.with_new_salt() if kdf_params is not None else calibrate_argon2id()
        header = _header(params)
        mac_key, payload_key = _keys(passphrase, params)
        out.write(header + hmac.new(mac_key, header, hashlib.sha256).digest())
        self._out = out
        self._aead = AESGCM(payload_key)
        self._buffer = bytearray()
        self._index = 0
        self.peak_buffered = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.peak_buffered = max(self.peak_buffered, len(self._buffer))
        # Strictly more than a chunk: the last chunk must be sealed as last, even when full.
        while len(self._buffer) > CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]

    def _seal(self, chunk: bytes, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._index, last), chunk, None))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True


def _read_header(source: IO[bytes], passphrase: str) -> AESGCM:
    head = source.read(_HEAD.size)
    if len(head) < _HEAD.size or not head.startswith(MAGIC):
        raise NotABackup()
    _, version, length = _HEAD.unpack(head)
    if version > FORMAT_VERSION:
        raise BackupTooNew()
    if version < 1 or length > MAX_HEADER_BYTES:
        raise NotABackup()
    text = source.read(length)
    mac = source.read(MAC_BYTES)
    if len(text) < length or len(mac) < MAC_BYTES:
        raise _truncated()
    try:
        header = json.loads(text)
        params = KdfParams.from_dict(header["kdf"])
        if header["chunk_bytes"] != CHUNK_BYTES:
            raise ValueError
    except WeakKdfParameters as error:
        raise BackupError(f"This backup's key settings are refused ({error}); it was not made "
                          "by Cove or was edited. Nothing was changed.") from None
    except (ValueError, KeyError, TypeError):
        raise NotABackup() from None
    if not passphrase:
        raise WrongBackupPassphrase()
    mac_key, payload_key = _keys(passphrase, params)
    if not hmac.compare_digest(hmac.new(mac_key, head + text, hashlib.sha256).digest(), mac):
        raise WrongBackupPassphrase()
    return AESGCM(payload_key)


def read_backup(source: IO[bytes], passphrase: str) -> Iterator[bytes]:
    """The plaintext chunks of a backup, each authenticated before it is yielded.

    The last chunk is known by reaching the end of the file; a file cut at any point (even
    between chunks), chunks reordered or swapped, or data after the last chunk, all raise
    BackupDamaged. WrongBackupPassphrase, NotABackup or BackupTooNew come before any chunk."""
    aead = _read_header(source, passphrase)
    index = 0
    sealed = source.read(SEALED_CHUNK_BYTES)
    while True:
        following = source.read(SEALED_CHUNK_BYTES) if len(sealed) == SEALED_CHUNK_BYTES else b""
        last = not following
        try:
            yield aead.decrypt(_nonce(index, last), sealed, None)
        except InvalidTag:
            # At the end of the file: most likely cut short (a middle chunk, whole or not, is
            # never sealed as last); anywhere else: changed, swapped or moved.
            raise (_truncated() if last else _damaged(index)) from None
        if last:
            return
        sealed = following
        index += 1


class _Records:
    """Splits the plaintext stream into JSON-line records, holding one chunk and one line."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.peak_buffered = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pending = bytearray()
        for chunk in self._chunks:
            pending += chunk
            self.peak_buffered = max(self.peak_buffered, len(pending))
            start = 0
            while (end := pending.find(b"\n", start)) >= 0:
                yield _record(bytes(pending[start:end]))
                start = end + 1
            del pending[:start]
        if pending:
            raise BackupDamaged("This backup ends in the middle of a record. Nothing was "
                                "changed.")


def _record(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("t"), str):
        raise _unreadable()
    return record


def _unreadable() -> BackupDamaged:
    return BackupDamaged("This backup holds a record Cove cannot read. Nothing was changed.")


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _encode_value(value: object) -> object:
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    return value


def _decode_value(value: object) -> object:
    if isinstance(value, dict):
        return base64.b64decode(value["b"])
    return value


# ---- making a backup -------------------------------------------------------------------------

@dataclass
class BackupSummary:
    """What a backup holds (made, or checked before a restore)."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    schema_version: int = 0
    created: float = 0.0
    peak_buffered: int = 0  # the most bytes one side held at once (flat memory, tested)

    def count(self, table: str) -> int:
        return self.rows.get(table, 0)


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def create_backup(store: ConversationStore, target: Path, passphrase: str,
                  paths: AppPaths | None = None, kdf_params: KdfParams | None = None,
                  progress: Progress | None = None) -> BackupSummary:
    """Write everything in `store` (unlocked) and, with `paths`, the settings and model list,
    to `target`, sealed under `passphrase`. Written beside `target` and renamed into place,
    mode 0600, so a failure leaves no partial file. Run it off the GUI thread."""
    data_key, key_id = store.data_key_for_backup()
    summary = BackupSummary(schema_version=SCHEMA_VERSION, created=time.time())
    # A read-only connection of its own in one read transaction: a consistent snapshot,
    # while the store's own connection keeps taking the chat's small writes.
    reader = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        reader.execute("BEGIN")
        tables = _tables(reader)
        counts = {t: reader.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        total = sum(counts.values())
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            writer = BackupWriter(out, passphrase, kdf_params)
            writer.write(_line({
                "t": "begin", "format": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
                "store_id": store.store_id, "key_id": key_id,
                "data_key": base64.b64encode(data_key).decode("ascii"),
                "created": summary.created, "cove_version": __version__}))
            done = 0
            for table in tables:
                writer.write(_line({"t": "table", "name": table,
                                    "columns": _columns(reader, table)}))
                summary.rows[table] = 0
                cursor = reader.execute(f'SELECT * FROM "{table}"')
                while rows := cursor.fetchmany(_ROWS_PER_READ):
                    for row in rows:
                        writer.write(_line({"t": "row", "v": [_encode_value(v) for v in row]}))
                    summary.rows[table] += len(rows)
                    done += len(rows)
                    if progress is not None:
                        progress(done, total)
            for name, path in _carried_files(paths):
                if path.is_file():
                    writer.write(_line({"t": "file", "name": name,
                                        "data": base64.b64encode(path.read_bytes()).decode()}))
                    summary.files.append(name)
            writer.write(_line({"t": "end", "rows": summary.rows, "files": summary.files}))
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
        fsync_dir(target.parent)
        summary.peak_buffered = writer.peak_buffered
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    finally:
        reader.close()
    log.info("backup written: %d rows", sum(summary.rows.values()))
    return summary


def _carried_files(paths: AppPaths | None) -> list[tuple[str, Path]]:
    if paths is None:
        return []
    return [("settings.json", paths.settings_file), ("models.json", paths.data / "models.json")]


# ---- checking and restoring ------------------------------------------------------------------

@dataclass
class _Contents:
    """One reading of a backup's records, checked for order and counts."""

    begin: dict[str, Any]
    summary: BackupSummary


def _walk(source: IO[bytes], passphrase: str,
          on_table: Callable[[str, list[str]], None] | None = None,
          on_row: Callable[[list[object]], None] | None = None,
          on_file: Callable[[str, bytes], None] | None = None,
          progress: Callable[[], None] | None = None) -> _Contents:
    """Read a whole backup, checking its records' order and counts, handing them on."""
    records = _Records(read_backup(source, passphrase))
    begin: dict[str, Any] | None = None
    summary = BackupSummary()
    table: str | None = None
    ended = False
    try:
        for record in records:
            kind = record["t"]
            if ended or (begin is None) != (kind == "begin"):
                raise BackupDamaged("This backup's records are out of order. Nothing was changed.")
            if kind == "begin":
                begin = record
                if int(record.get("schema_version", 0)) > SCHEMA_VERSION or int(
                        record.get("format", 0)) > FORMAT_VERSION:
                    raise BackupTooNew()
                summary.schema_version = int(record["schema_version"])
                summary.created = float(record.get("created", 0.0))
            elif kind == "table":
                table = str(record["name"])
                summary.rows[table] = 0
                if on_table is not None:
                    on_table(table, [str(c) for c in record["columns"]])
            elif kind == "row":
                if table is None:
                    raise BackupDamaged("This backup has a row outside any table.")
                summary.rows[table] += 1
                if on_row is not None:
                    on_row([_decode_value(v) for v in record["v"]])
            elif kind == "file":
                summary.files.append(str(record["name"]))
                if on_file is not None:
                    on_file(str(record["name"]), base64.b64decode(record["data"]))
            elif kind == "end":
                if record.get("rows") != summary.rows or record.get("files") != summary.files:
                    raise BackupDamaged("This backup's counts do not match what it holds. Nothing "
                                        "was changed.")
                ended = True
            if progress is not None:
                progress()
    except (KeyError, TypeError, ValueError):
        # Authenticated, so written by some Cove: a record it cannot read is a bug there,
        # still said in words rather than a traceback.
        raise _unreadable() from None
    if begin is None or not ended:
        raise _truncated()
    summary.peak_buffered = records.peak_buffered
    return _Contents(begin, summary)


class _Counter:
    """Progress by bytes read, for a file object."""

    def __init__(self, source: IO[bytes], total: int, progress: Progress | None,
                 offset: int = 0, scale: int = 1) -> None:
        self.source = source
        self.total = total
        self.progress = progress
        self.offset = offset
        self.scale = scale
        self._reported = -1

    def tick(self) -> None:
        # Called once a record: report only each whole percent, so the GUI is not flooded.
        if self.progress is None:
            return
        done = self.offset + self.source.tell()
        step = max(1, self.total * self.scale // 100)
        if done // step != self._reported:
            self._reported = done // step
            self.progress(done, self.total * self.scale)


def check_backup(backup: Path, passphrase: str, progress: Progress | None = None
                 ) -> BackupSummary:
    """Read and authenticate the whole backup without changing anything; what it holds."""
    with _open_backup(backup) as source:
        counter = _Counter(source, backup.stat().st_size, progress)
        return _walk(source, passphrase, progress=counter.tick).summary


@contextlib.contextmanager
def _open_backup(backup: Path) -> Iterator[IO[bytes]]:
    try:
        source = open(backup, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise BackupError(f"There is no file {backup}.") from None
    except IsADirectoryError:
        raise BackupError(f"{backup} is a folder, not a backup file.") from None
    except PermissionError:
        raise BackupError(f"Cove may not read {backup}.") from None
    with source:
        yield source


@dataclass
class RestoreResult:
    summary: BackupSummary
    kept: Path | None  # the history that was replaced, kept beside it (None: there was none)
    files: list[Path]  # settings and model list put in place


def restore_backup(backup: Path, passphrase: str, store_path: Path,
                   paths: AppPaths | None = None, kdf_params: KdfParams | None = None,
                   progress: Progress | None = None,
                   before_swap: Callable[[], None] | None = None) -> RestoreResult:
    """Replace the history at `store_path` (closed by the caller) with the backup's.

    The whole file is checked first; a new store is built beside the current one, its data
    key wrapped under `passphrase` (the history then opens with the backup's passphrase), and
    renamed into place in one step. With `paths`, the backup's settings and model list are put
    in place too (each old one kept as ``NAME.before-restore-STAMP``). `before_swap` runs once
    the new store is whole, just before the rename (the window closes its store there). Any
    error before the rename leaves everything as it was."""
    size = backup.stat().st_size if backup.exists() else 0
    with _open_backup(backup) as source:
        counter = _Counter(source, size, progress, scale=2)
        checked = _walk(source, passphrase, progress=counter.tick)
    store_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    building = store_path.with_name(f"{store_path.name}.restoring-{secrets.token_hex(4)}")
    files: dict[str, bytes] = {}
    try:
        conn, _, _ = open_file(building)
        try:
            with _open_backup(backup) as source:
                counter = _Counter(source, size, progress, offset=size, scale=2)
                _fill(conn, source, passphrase, files, counter.tick)
            _rewrap(conn, checked.begin, passphrase, kdf_params)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        ConversationStore.open(building).close()  # it opens as a Cove history
        os.chmod(building, 0o600)
        if before_swap is not None:
            before_swap()
        kept = _swap(building, store_path)
    except BaseException:
        for leftover in sidecars(building):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    placed = _place_files(files, paths) if paths is not None else []
    log.info("backup restored: %d rows", sum(checked.summary.rows.values()))
    return RestoreResult(checked.summary, kept, placed)


def _fill(conn: sqlite3.Connection, source: IO[bytes], passphrase: str,
          files: dict[str, bytes], tick: Callable[[], None]) -> None:
    """Insert every row of the backup into the new store's tables, in one transaction."""
    present = set(_tables(conn))
    insert: list[str | None] = [None]  # the current table's INSERT, or None to skip its rows
    wanted: list[list[int]] = [[]]
    batch: list[tuple[object, ...]] = []

    def flush() -> None:
        if batch and insert[0] is not None:
            conn.executemany(insert[0], batch)
        batch.clear()

    def on_table(table: str, columns: list[str]) -> None:
        flush()
        if table not in present:
            insert[0] = None  # from an older schema that had a table this one dropped
            return
        own = set(_columns(conn, table))
        wanted[0] = [i for i, c in enumerate(columns) if c in own]
        names = ", ".join(f'"{columns[i]}"' for i in wanted[0])
        marks = ", ".join("?" for _ in wanted[0])
        insert[0] = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'

    def on_row(values: list[object]) -> None:
        batch.append(tuple(values[i] for i in wanted[0]))
        if len(batch) >= _ROWS_PER_READ:
            flush()

    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM meta")  # the new file's own store id gives way to the backup's
        _walk(source, passphrase, on_table, on_row,
              lambda name, data: files.__setitem__(name, data), tick)
        flush()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _rewrap(conn: sqlite3.Connection, begin: dict[str, Any], passphrase: str,
            kdf_params: KdfParams | None) -> None:
    """Wrap the backup's data key under the backup's passphrase for the new store."""
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (META_KEY_RECORD,)).fetchone()
    if row is None:
        raise BackupDamaged("This backup has no key record. Nothing was changed.")
    record = keys.KeyRecord.from_json(row[0])
    data_key = base64.b64decode(begin["data_key"])
    if record.key_id != begin["key_id"] or len(data_key) != KEY_BYTES:
        raise BackupDamaged("This backup's key does not match its history. Nothing was "
                            "changed.")
    fresh = keys.rewrap_for_passphrase(record, data_key, passphrase, kdf_params)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = ?",
                     (fresh.to_json(), META_KEY_RECORD))


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _kept_name(path: Path) -> Path:
    stamp = _stamp()
    target = path.with_name(f"{path.name}.before-restore-{stamp}")
    attempt = 1
    while any(p.exists() for p in sidecars(target)):
        target = path.with_name(f"{path.name}.before-restore-{stamp}-{attempt}")
        attempt += 1
    return target


def _swap(building: Path, store_path: Path) -> Path | None:
    """Put `building` at `store_path` with one rename; the old file (if any) stays, hard-linked
    as ``cove.db.before-restore-STAMP``, so at every instant one whole history is in place."""
    kept: Path | None = None
    if store_path.exists():
        with contextlib.suppress(sqlite3.Error):
            # Fold the old file's journal into it first, so the kept copy is whole by itself.
            old = sqlite3.connect(store_path)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        kept = _kept_name(store_path)
        os.link(store_path, kept)
        for journal, kept_journal in zip(sidecars(store_path)[1:], sidecars(kept)[1:],
                                         strict=True):
            if journal.exists():
                os.rename(journal, kept_journal)
        fsync_dir(store_path.parent)
    os.replace(building, store_path)
    fsync_dir(store_path.parent)
    return kept


def _place_files(files: dict[str, bytes], paths: AppPaths) -> list[Path]:
    placed = []
    for name, target in _carried_files(paths):
        if name not in files:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            kept = target.with_name(f"{target.name}.before-restore-{_stamp()}")
            with contextlib.suppress(FileExistsError):
                os.link(target, kept)
        temporary = target.with_name(f".{target.name}.restoring")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(files[name])
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        placed.append(target)
    if placed:
        fsync_dir(placed[0].parent)
    return placed
