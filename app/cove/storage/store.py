"""Conversations and messages in one SQLite file, every row body sealed with AES-256-GCM.

Only random ids, sequence numbers and key ids are stored in clear. Each conversation has one
small sealed summary row (title, pinned, created, updated, message count), so the sidebar can
list thousands of conversations by decrypting only those. Plain Python, no Qt: the GUI calls the
small writes on its thread and bulk reads (search index, export) from one background worker;
one lock serialises use of the single connection.

Public API (``ConversationStore``):

- ``ConversationStore.open(path=None)``: open or create (default ``default_store_path()``);
  ``StoreDamaged`` (with ``.path``) for a truncated, garbage or foreign file, which is never
  written to; ``StoreTooNew`` for a newer schema. Use as a context manager or call ``close()``.
- ``is_set_up``, ``is_unlocked``, ``key_source``, ``store_id``, ``schema_version``, ``path``.
- ``setup_with_keyring(timeout_s)`` / ``setup_with_passphrase(passphrase, kdf_params=None)``:
  first run: a new random data key, stored wrapped.
- ``unlock_with_keyring(timeout_s)`` / ``unlock_with_passphrase(passphrase)``; ``lock()``.
- ``change_passphrase(old, new, kdf_params=None)``: re-wraps the data key only.
- ``switch_to_keyring(timeout_s)`` / ``switch_to_passphrase(passphrase, kdf_params=None)``.
- ``create_conversation(title="", pinned=False, conversation_id=None) -> str``.
- ``list_conversations() -> list[ConversationSummary]``: pinned first, then newest updated.
- ``conversation_summary(conversation_id) -> ConversationSummary``.
- ``rename_conversation(conversation_id, title)`` / ``set_pinned(conversation_id, pinned)``.
- ``delete_conversation(conversation_id)``: rows removed, freed pages zeroed, WAL truncated.
- ``append_message(conversation_id, message) -> str``: durable (fsynced) when it returns.
- ``update_message(message)``: rewrite one message in place (a streaming reply as it grows).
- ``message_count(conversation_id) -> int``.
- ``load_messages(conversation_id, offset=0, limit=None) -> list[Message | DamagedMessage]``.
- ``iter_all_messages(batch_size=1000) -> Iterator[tuple[str, Message | DamagedMessage]]``.
- ``export_markdown(conversation_id) -> str``.
- ``import_conversations(conversations) -> list[str]``: many at once, one transaction.
- ``load_preference(name) -> dict | None`` / ``save_preference(name, value)``: small sealed
  records of things a person typed that are not conversations (a model's system prompt);
  ``PreferenceDamaged`` when one fails authentication.
- ``check_integrity() -> bool``: SQLite's full ``integrity_check``.

Module functions: ``default_store_path(paths=None)``, ``set_aside(path) -> Path``.
Types: ``ConversationSummary`` (id, title, pinned, created, updated, message_count, damaged),
``DamagedMessage`` (id, conversation_id, seq, missing), ``ImportedConversation``.
Errors (all ``StoreError``): ``StoreDamaged``, ``StoreTooNew``, ``StoreLocked``, ``StoreNotSetUp``,
``AlreadySetUp``, ``NotFound`` (a ``LookupError``), ``DuplicateId`` (a ``ValueError``),
``ConversationDamaged``, ``PreferenceDamaged``; key errors come from ``cove.storage.keys``
(``WrongPassphrase``, ``KeyringUnavailable``, ...). Deleting a conversation does not touch a
search index: the caller removes it there too (``SearchIndex.remove_conversation``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from cove.core.conversation import Message, MessageState, ReplyStats, Role, title_from
from cove.core.fsutil import fsync_dir
from cove.paths import AppPaths, app_paths
from cove.storage import keys
from cove.storage.crypto import KdfParams, RowCipher
from cove.storage.keys import KEYRING_TIMEOUT_S, KeyRecord, KeySource

log = logging.getLogger(__name__)

STORE_FILENAME = "cove.db"
APPLICATION_ID = 0x436F7665  # "Cove": tells our files from any other SQLite file
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ID_PATTERN = re.compile(r"[0-9a-f]{16,64}\Z")

_CONVERSATIONS = "conversations"
_MESSAGES = "messages"
_META_STORE_ID = "store_id"
_META_KEY_RECORD = "key_record"
_PREFERENCES = "preferences"
_PREFERENCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


class StoreError(Exception):
    """Something the user may need to act on; the message never quotes stored text."""


class StoreDamaged(StoreError):
    """The file is truncated, garbage or not Cove's; it is left exactly as found."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"The history file {path} is damaged: {reason}.")
        self.path = path
        self.reason = reason


class StoreTooNew(StoreError):
    """Written by a newer Cove; opening it here could lose what that version stored."""


class StoreLocked(StoreError):
    """The data key is not loaded: unlock first."""


class StoreNotSetUp(StoreError):
    """No data key exists yet: run one of the setup methods."""


class AlreadySetUp(StoreError):
    """Setup was asked for a store that already has a data key."""


class NotFound(StoreError, LookupError):
    """No conversation or message with that id."""


class DuplicateId(StoreError, ValueError):
    """A conversation or message with that id is already stored."""


class ConversationDamaged(StoreError):
    """The conversation's summary row failed authentication, so it cannot be changed."""


class PreferenceDamaged(StoreError):
    """A sealed preference record failed authentication; it was left as it is."""


class ConversationSummary(NamedTuple):
    """What the sidebar shows for one conversation; `damaged` rows have empty fields.

    A NamedTuple rather than a frozen dataclass: 10,000 are built at every unlock, and a tuple
    is built several times faster.
    """

    id: str
    title: str
    pinned: bool
    created: float
    updated: float
    message_count: int
    damaged: bool = False


@dataclass(frozen=True)
class DamagedMessage:
    """A message row that failed authentication (`missing`: its row is gone). Never text."""

    id: str
    conversation_id: str
    seq: int
    missing: bool = False


@dataclass
class ImportedConversation:
    """One conversation for ``import_conversations``; unset times default to now."""

    messages: Sequence[Message]
    title: str = ""
    pinned: bool = False
    created: float | None = None
    updated: float | None = None
    id: str | None = None


def default_store_path(paths: AppPaths | None = None) -> Path:
    return (paths or app_paths()).data / STORE_FILENAME


def _sidecars(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def set_aside(path: Path) -> Path:
    """Rename a damaged store (and its -wal/-shm) out of the way; returns the new path.

    The user starts afresh while the old file is kept, e.g. ``cove.db.damaged-20250101-120000``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    attempt = 1
    while any(p.exists() for p in _sidecars(target)):
        target = path.with_name(f"{path.name}.damaged-{stamp}-{attempt}")
        attempt += 1
    for source, destination in zip(_sidecars(path), _sidecars(target), strict=True):
        if source.exists():
            os.rename(source, destination)
    log.warning("damaged store set aside")
    return target


# ---- schema --------------------------------------------------------------------------------

def _schema_v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
        " body BLOB NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL, key_id TEXT NOT NULL, body BLOB NOT NULL)"
    )
    conn.execute("CREATE UNIQUE INDEX messages_by_conversation ON messages (conversation_id, seq)")


def _schema_v2(conn: sqlite3.Connection) -> None:
    # Notes land here later; same shape as conversations (random id, key id, sealed body).
    conn.execute(
        "CREATE TABLE notes (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, body BLOB NOT NULL)"
    )


def _schema_v3(conn: sqlite3.Connection) -> None:
    # Settings a person typed (a model's system prompt), sealed like every other text. The
    # name is a fixed word from the code, never user text.
    conn.execute(
        "CREATE TABLE preferences (name TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
        " body BLOB NOT NULL)"
    )


# MIGRATIONS[n] takes a store from schema version n to n + 1; append, never edit.
MIGRATIONS = (_schema_v1, _schema_v2, _schema_v3)
SCHEMA_VERSION = len(MIGRATIONS)


def _migrate(conn: sqlite3.Connection, from_version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(from_version, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("schema migrated from %d to %d", from_version, SCHEMA_VERSION)


# ---- file handling -------------------------------------------------------------------------

def _is_corruption(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return type(error) is sqlite3.DatabaseError
    return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _check_header(path: Path) -> None:
    """Reject garbage and truncated files before SQLite sees them (reads only)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(100)
    if size < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StoreDamaged(path, "it is not a database (garbage or cut short)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreDamaged(path, "its header is invalid")
    if size % page_size:
        raise StoreDamaged(path, "it is cut short")
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # After a crash mid-checkpoint the header may already count pages that are still only
        # in the WAL; SQLite recovers that itself, so the size check below would misfire.
        return
    pages = int.from_bytes(header[28:32], "big")
    header_size_valid = header[24:28] == header[92:96]
    if pages and header_size_valid and size < pages * page_size:
        raise StoreDamaged(path, "it is cut short")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=10.0)


def _configure(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError("The history file cannot use write-ahead logging here.")
    conn.execute("PRAGMA synchronous = FULL")  # a commit is on disk when it returns
    conn.execute("PRAGMA secure_delete = ON")  # freed cells and pages are zeroed
    conn.execute("PRAGMA temp_store = MEMORY")  # no temporary files beside the database
    conn.execute("PRAGMA cell_size_check = ON")  # notice damaged pages sooner
    conn.execute("PRAGMA trusted_schema = OFF")


def _create_new(path: Path) -> None:
    """Build a fresh store beside `path` and link it into place, so a crash during creation
    never leaves a half-made file that would later look damaged."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    building = path.with_name(f"{path.name}.creating-{secrets.token_hex(4)}")
    conn = _connect(building)
    try:
        _configure(conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        _migrate(conn, 0)
        conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)",
                     (_META_STORE_ID, secrets.token_hex(16)))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for leftover in _sidecars(building)[1:]:
        leftover.unlink(missing_ok=True)
    os.chmod(building, 0o600)
    try:
        os.link(building, path)  # fails rather than replace a file that appeared meanwhile
    except FileExistsError:
        pass
    except OSError:
        if not path.exists():
            os.rename(building, path)
    building.unlink(missing_ok=True)
    fsync_dir(path.parent)
    log.info("store created")


# ---- row bodies ----------------------------------------------------------------------------

def _encode(value: dict[str, Any]) -> bytes:
    # surrogatepass: a lone surrogate in model output still round-trips instead of failing.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def _decode(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8", "surrogatepass"))
    if not isinstance(value, dict):
        raise ValueError("row body is not an object")
    return value


def _message_body(message: Message) -> bytes:
    return _encode({
        "role": message.role.value,
        "text": message.text,
        "model": message.model,
        "state": message.state.value,
        "stats": dataclasses.asdict(message.stats) if message.stats is not None else None,
        "error": message.error,
        "created": message.created,
    })


_STATS_FIELDS = {f.name for f in dataclasses.fields(ReplyStats)}


def _message_from_body(message_id: str, body: dict[str, Any]) -> Message:
    stats = body.get("stats")
    return Message(
        role=Role(body["role"]),
        text=str(body["text"]),
        model=str(body.get("model", "")),
        state=MessageState(body.get("state", MessageState.DONE.value)),
        stats=(ReplyStats(**{k: v for k, v in stats.items() if k in _STATS_FIELDS})
               if isinstance(stats, dict) else None),
        error=str(body.get("error", "")),
        id=message_id,
        created=float(body["created"]),
    )


# Summaries are packed, not JSON: the sidebar decodes 10,000 of them at unlock.
# Layout: format version, pinned, created, updated, message count, then the UTF-8 title.
_SUMMARY_HEAD = struct.Struct("<B?ddI")
_SUMMARY_FORMAT = 1


def _summary_body(summary: ConversationSummary) -> bytes:
    head = _SUMMARY_HEAD.pack(_SUMMARY_FORMAT, summary.pinned, summary.created, summary.updated,
                              summary.message_count)
    return head + summary.title.encode("utf-8", "surrogatepass")


def _summary_from_body(conversation_id: str, body: bytes) -> ConversationSummary:
    version, pinned, created, updated, count = _SUMMARY_HEAD.unpack_from(body)
    if version != _SUMMARY_FORMAT:
        raise ValueError("unknown summary format")
    title = body[_SUMMARY_HEAD.size:].decode("utf-8", "surrogatepass")
    return ConversationSummary(conversation_id, title, pinned, created, updated, count)


def _damaged_summary(conversation_id: str) -> ConversationSummary:
    return ConversationSummary(conversation_id, "", False, 0.0, 0.0, 0, damaged=True)


def _summary_or_damaged(conversation_id: str, body: bytes | None) -> ConversationSummary:
    """The decoded summary, or a damaged one when the row failed authentication (None)."""
    try:
        if body is None:
            raise ValueError("row failed authentication")
        return _summary_from_body(conversation_id, body)
    except (ValueError, struct.error):
        return _damaged_summary(conversation_id)


def _message_or_damaged(conversation_id: str, message_id: str, seq: int,
                        body: bytes | None) -> Message | DamagedMessage:
    try:
        if body is None:
            raise ValueError("row failed authentication")
        return _message_from_body(message_id, _decode(body))
    except (ValueError, KeyError, TypeError):
        return DamagedMessage(message_id, conversation_id, seq)


def _check_id(value: str) -> str:
    # Ids are stored in clear, so only random hex ids are accepted: never a title or text.
    if not _ID_PATTERN.match(value):
        raise ValueError("ids must be 16-64 lowercase hex characters from a random source")
    return value


def _check_preference(name: str) -> str:
    if not _PREFERENCE_NAME.match(name):
        raise ValueError("preference names are fixed lowercase words from the code")
    return name


def _sort_key(summary: ConversationSummary) -> tuple[bool, float]:
    return (not summary.pinned, -summary.updated)


class ConversationStore:
    """One encrypted history file. Locked until a data key is set up or unlocked."""

    def __init__(self, path: Path, conn: sqlite3.Connection, store_id: str,
                 record: KeyRecord | None, schema_version: int) -> None:
        """Use ConversationStore.open()."""
        self.path = path
        self.store_id = store_id
        self.schema_version = schema_version
        self._conn: sqlite3.Connection | None = conn
        self._record = record
        self._lock = threading.RLock()
        self._data_key: bytes | None = None
        self._cipher: RowCipher | None = None
        self._summaries: dict[str, ConversationSummary] = {}
        self._all_summaries_loaded = False
        self._wipe_pending = False

    # ---- opening and closing -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | None = None) -> ConversationStore:
        path = Path(path) if path is not None else default_store_path()
        if not path.exists():
            if any(p.exists() for p in _sidecars(path)[1:]):
                raise StoreDamaged(path, "the file is missing but its journal remains")
            _create_new(path)
        _check_header(path)
        conn = _connect(path)
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if application_id != APPLICATION_ID or version < 1:
                raise StoreDamaged(path, "it is not a Cove history file")
            if version > SCHEMA_VERSION:
                raise StoreTooNew("This history was written by a newer version of Cove.")
            _configure(conn)
            if version < SCHEMA_VERSION:
                _migrate(conn, version)
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            store_id = meta.get(_META_STORE_ID)
            if not isinstance(store_id, str):
                raise StoreDamaged(path, "its store id is missing")
            record_text = meta.get(_META_KEY_RECORD)
            record = KeyRecord.from_json(record_text) if record_text is not None else None
            if record is not None and record.store_id != store_id:
                raise StoreDamaged(path, "its key record belongs to another store")
        except sqlite3.DatabaseError as error:
            conn.close()
            if _is_corruption(error):
                raise StoreDamaged(path, "SQLite reports it malformed") from None
            raise
        except keys.KeyRecordDamaged:
            conn.close()
            raise StoreDamaged(path, "its key record is damaged") from None
        except BaseException:
            conn.close()
            raise
        log.info("store opened")
        return cls(path, conn, store_id, record, SCHEMA_VERSION)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._wipe_pending:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
                self.lock()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with SQLite corruption reported as StoreDamaged."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreError("The history file is closed.")
            try:
                yield conn
            except sqlite3.DatabaseError as error:
                if _is_corruption(error):
                    log.error("database damaged")
                    raise StoreDamaged(self.path, "SQLite reports it malformed") from None
                raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                # Only a reused id can break a constraint (sequence numbers are taken inside
                # the same transaction).
                raise DuplicateId("That id is already stored.") from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # ---- keys ------------------------------------------------------------------------------

    @property
    def is_set_up(self) -> bool:
        return self._record is not None

    @property
    def is_unlocked(self) -> bool:
        return self._cipher is not None

    @property
    def key_source(self) -> KeySource | None:
        return self._record.source if self._record is not None else None

    def key_details(self) -> dict[str, object]:
        """How the history is protected, for the privacy panel (nothing secret, no salt)."""
        details: dict[str, object] = {"cipher": "AES-256-GCM",
                                      "source": self.key_source.value if self.key_source
                                      else None}
        if self._record is not None and self._record.kdf:
            details["kdf"] = {name: self._record.kdf[name]
                              for name in ("algorithm", "memory_kib", "iterations", "lanes")
                              if name in self._record.kdf}
        return details

    def _save_record(self, record: KeyRecord) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                         (_META_KEY_RECORD, record.to_json()))
        self._record = record

    def _use_data_key(self, data_key: bytes, key_id: str) -> None:
        self._data_key = data_key
        self._cipher = RowCipher(data_key, key_id)

    def _require_record(self) -> KeyRecord:
        if self._record is None:
            raise StoreNotSetUp("This history has no key yet.")
        return self._record

    def _require_unset(self) -> None:
        if self._record is not None:
            raise AlreadySetUp("This history already has a key.")

    def setup_with_keyring(self, timeout_s: float = KEYRING_TIMEOUT_S) -> None:
        """First run, keyring kind; KeyringUnavailable (nothing written) means: ask for a
        passphrase instead."""
        self._require_unset()
        record, data_key = keys.create_with_keyring(self.store_id, timeout_s)
        self._save_record(record)
        self._use_data_key(data_key, record.key_id)

    def setup_with_passphrase(self, passphrase: str, kdf_params: KdfParams | None = None) -> None:
        """First run, passphrase kind; `kdf_params` default to calibrated (about 0.5 s)."""
        self._require_unset()
        record, data_key = keys.create_with_passphrase(self.store_id, passphrase, kdf_params)
        self._save_record(record)
        self._use_data_key(data_key, record.key_id)

    def unlock_with_keyring(self, timeout_s: float = KEYRING_TIMEOUT_S) -> None:
        record = self._require_record()
        self._use_data_key(keys.unlock_with_keyring(record, timeout_s), record.key_id)

    def unlock_with_passphrase(self, passphrase: str) -> None:
        """Load the data key; WrongPassphrase leaves the store locked and the file untouched."""
        record = self._require_record()
        self._use_data_key(keys.unlock_with_passphrase(record, passphrase), record.key_id)

    def lock(self) -> None:
        """Forget the data key and every decrypted summary."""
        with self._lock:
            self._data_key = None
            self._cipher = None
            self._summaries = {}
            self._all_summaries_loaded = False

    def change_passphrase(self, old_passphrase: str, new_passphrase: str,
                          kdf_params: KdfParams | None = None) -> None:
        """Re-wrap the data key for a new passphrase; no data row changes."""
        record = self._require_record()
        self._save_record(keys.change_passphrase(record, old_passphrase, new_passphrase,
                                                 kdf_params))

    def switch_to_passphrase(self, passphrase: str, kdf_params: KdfParams | None = None) -> None:
        """Keep the key by passphrase from now on (the keyring secret is then removed)."""
        record = self._require_record()
        data_key = self._require_data_key()
        was_keyring = record.source is KeySource.KEYRING
        self._save_record(keys.rewrap_for_passphrase(record, data_key, passphrase, kdf_params))
        if was_keyring:
            keys.forget_keyring_secret(self.store_id)

    def switch_to_keyring(self, timeout_s: float = KEYRING_TIMEOUT_S) -> None:
        """Keep the key in the OS keyring from now on; KeyringUnavailable changes nothing."""
        record = self._require_record()
        data_key = self._require_data_key()
        if record.source is KeySource.KEYRING:
            return  # a new secret would overwrite the live one before the new wrap is saved
        self._save_record(keys.rewrap_for_keyring(record, data_key, timeout_s))

    def _require_data_key(self) -> bytes:
        if self._data_key is None:
            raise StoreLocked("Unlock the history first.")
        return self._data_key

    def _require_cipher(self) -> RowCipher:
        if self._cipher is None:
            raise StoreLocked("Unlock the history first.")
        return self._cipher

    # ---- conversations ---------------------------------------------------------------------

    @staticmethod
    def _open_summaries(cipher: RowCipher, rows: list[tuple[str, str, bytes]]
                        ) -> dict[str, ConversationSummary]:
        """(id, key id, blob) rows of the conversations table, opened; failures are damaged."""
        bodies = cipher.open_many(_CONVERSATIONS, [(cid, cid, 0, key_id, blob)
                                                   for cid, key_id, blob in rows])
        summaries = {conversation_id: _summary_or_damaged(conversation_id, body)
                     for (conversation_id, _, _), body in zip(rows, bodies, strict=True)}
        damaged = sum(summary.damaged for summary in summaries.values())
        if damaged:
            log.warning("damaged conversation rows: %d", damaged)
        return summaries

    def _summary(self, conversation_id: str) -> ConversationSummary:
        """The cached or freshly decrypted summary; call with the lock held."""
        cached = self._summaries.get(conversation_id)
        if cached is not None:
            return cached
        cipher = self._require_cipher()
        with self._db() as conn:
            row = conn.execute("SELECT key_id, body FROM conversations WHERE id = ?",
                               (conversation_id,)).fetchone()
        if row is None:
            raise NotFound("No such conversation.")
        summary = self._open_summaries(cipher, [(conversation_id, row[0], row[1])])[
            conversation_id]
        self._summaries[conversation_id] = summary
        return summary

    def _write_summary(self, conn: sqlite3.Connection, summary: ConversationSummary,
                       insert: bool = False) -> None:
        cipher = self._require_cipher()
        blob = cipher.seal(_CONVERSATIONS, summary.id, summary.id, 0, _summary_body(summary))
        if insert:
            conn.execute("INSERT INTO conversations (id, key_id, body) VALUES (?, ?, ?)",
                         (summary.id, cipher.key_id, blob))
        else:
            conn.execute("UPDATE conversations SET key_id = ?, body = ? WHERE id = ?",
                         (cipher.key_id, blob, summary.id))

    def _writable_summary(self, conversation_id: str) -> ConversationSummary:
        summary = self._summary(conversation_id)
        if summary.damaged:
            raise ConversationDamaged("This conversation is damaged and cannot be changed.")
        return summary

    def create_conversation(self, title: str = "", pinned: bool = False,
                            conversation_id: str | None = None) -> str:
        """A new empty conversation; returns its id (random unless given)."""
        self._require_cipher()
        conversation_id = _check_id(conversation_id or secrets.token_hex(8))
        now = time.time()
        summary = ConversationSummary(conversation_id, title, pinned, now, now, 0)
        with self._lock:
            with self._transaction() as conn:
                self._write_summary(conn, summary, insert=True)
            self._summaries[conversation_id] = summary
        return conversation_id

    def list_conversations(self) -> list[ConversationSummary]:
        """Every conversation for the sidebar: pinned first, then the most recently updated."""
        cipher = self._require_cipher()
        with self._lock:
            if not self._all_summaries_loaded:
                with self._db() as conn:
                    rows = conn.execute("SELECT id, key_id, body FROM conversations").fetchall()
                self._summaries = self._open_summaries(cipher, rows)
                self._all_summaries_loaded = True
            summaries = list(self._summaries.values())
        summaries.sort(key=_sort_key)
        return summaries

    def conversation_summary(self, conversation_id: str) -> ConversationSummary:
        with self._lock:
            return self._summary(conversation_id)

    def _change_summary(self, conversation_id: str, **changes: Any) -> None:
        with self._lock:
            summary = self._writable_summary(conversation_id)._replace(**changes)
            with self._transaction() as conn:
                self._write_summary(conn, summary)
            self._summaries[conversation_id] = summary

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        self._change_summary(conversation_id, title=title)

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        self._change_summary(conversation_id, pinned=pinned)

    def delete_conversation(self, conversation_id: str) -> None:
        """Remove a conversation and its messages so no trace stays in the file or its WAL.

        secure_delete zeroes the freed cells and pages; the TRUNCATE checkpoint then moves
        those zeroed pages into the database and cuts the WAL (which still holds the old
        page images) to nothing. If another reader blocks the checkpoint it is retried on close.
        """
        with self._lock:
            with self._transaction() as conn:
                conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                deleted = conn.execute("DELETE FROM conversations WHERE id = ?",
                                       (conversation_id,)).rowcount
            self._summaries.pop(conversation_id, None)
            if not deleted:
                raise NotFound("No such conversation.")
            with self._db() as conn:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            self._wipe_pending = bool(busy)
        log.info("conversation deleted")

    # ---- messages --------------------------------------------------------------------------

    def append_message(self, conversation_id: str, message: Message) -> str:
        """Store `message` at the end of the conversation; returns its id (``message.id``).

        On return the row is committed and fsynced (WAL, synchronous=FULL).
        """
        cipher = self._require_cipher()
        message_id = _check_id(message.id)
        body = _message_body(message)
        with self._lock:
            summary = self._writable_summary(conversation_id)
            with self._transaction() as conn:
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM messages WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()[0]
                blob = cipher.seal(_MESSAGES, conversation_id, message_id, seq, body)
                conn.execute(
                    "INSERT INTO messages (id, conversation_id, seq, key_id, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (message_id, conversation_id, seq, cipher.key_id, blob))
                title = summary.title
                if not title and message.role is Role.USER:
                    title = title_from(message.text)
                summary = summary._replace(
                    title=title, updated=time.time(),
                    message_count=max(summary.message_count, seq) + 1)
                self._write_summary(conn, summary)
            self._summaries[conversation_id] = summary
        return message_id

    def update_message(self, message: Message) -> None:
        """Rewrite a stored message (matched by ``message.id``), e.g. a reply as it streams.

        One primary-key lookup, one seal and one small commit: cheap enough to call every second.
        """
        cipher = self._require_cipher()
        body = _message_body(message)
        with self._transaction() as conn:
            row = conn.execute("SELECT conversation_id, seq FROM messages WHERE id = ?",
                               (message.id,)).fetchone()
            if row is None:
                raise NotFound("No such message.")
            conversation_id, seq = row
            blob = cipher.seal(_MESSAGES, conversation_id, message.id, seq, body)
            conn.execute("UPDATE messages SET key_id = ?, body = ? WHERE id = ?",
                         (cipher.key_id, blob, message.id))

    @staticmethod
    def _open_messages(cipher: RowCipher, rows: list[tuple[str, str, int, str, bytes]]
                       ) -> list[Message | DamagedMessage]:
        """(conversation id, message id, seq, key id, blob) rows, opened; failures damaged."""
        opened = [_message_or_damaged(conversation_id, message_id, seq, plaintext)
                  for (conversation_id, message_id, seq, _, _), plaintext
                  in zip(rows, cipher.open_many(_MESSAGES, rows), strict=True)]
        damaged = sum(isinstance(message, DamagedMessage) for message in opened)
        if damaged:
            log.warning("damaged message rows: %d", damaged)
        return opened

    def message_count(self, conversation_id: str) -> int:
        with self._lock:
            summary = self._summary(conversation_id)
            if not summary.damaged:
                return summary.message_count
            with self._db() as conn:
                return int(conn.execute(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM messages WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()[0])

    def load_messages(self, conversation_id: str, offset: int = 0,
                      limit: int | None = None) -> list[Message | DamagedMessage]:
        """Messages at positions [offset, offset + limit) in order, decrypted now.

        A row that fails authentication comes back as DamagedMessage; a row that should exist
        (by the sealed message count) but does not comes back as DamagedMessage(missing=True).
        """
        cipher = self._require_cipher()
        end = offset + limit if limit is not None else None
        with self._lock:
            summary = self._summary(conversation_id)
            with self._db() as conn:
                if end is None:
                    rows = conn.execute(
                        "SELECT id, seq, key_id, body FROM messages"
                        " WHERE conversation_id = ? AND seq >= ? ORDER BY seq",
                        (conversation_id, offset)).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT id, seq, key_id, body FROM messages"
                        " WHERE conversation_id = ? AND seq >= ? AND seq < ? ORDER BY seq",
                        (conversation_id, offset, end)).fetchall()
        opened = self._open_messages(cipher, [(conversation_id, message_id, seq, key_id, blob)
                                              for message_id, seq, key_id, blob in rows])
        loaded: list[Message | DamagedMessage] = []
        expected = offset
        for message, (_, seq, _, _) in zip(opened, rows, strict=True):
            # Sequence numbers are dense, so a gap is a row someone removed.
            loaded.extend(DamagedMessage("", conversation_id, gap, missing=True)
                          for gap in range(expected, seq))
            loaded.append(message)
            expected = seq + 1
        if not summary.damaged:
            upper = summary.message_count if end is None else min(end, summary.message_count)
            loaded.extend(DamagedMessage("", conversation_id, gap, missing=True)
                          for gap in range(expected, upper))
        return loaded

    def iter_all_messages(self, batch_size: int = 1000
                          ) -> Iterator[tuple[str, Message | DamagedMessage]]:
        """(conversation id, message) for every stored message, for the search index.

        Reads in batches and decrypts outside the lock, so the GUI thread can keep writing.
        """
        cipher = self._require_cipher()
        last_rowid = 0
        while True:
            with self._db() as conn:
                rows = conn.execute(
                    "SELECT rowid, conversation_id, id, seq, key_id, body FROM messages"
                    " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last_rowid, batch_size)).fetchall()
            if not rows:
                return
            last_rowid = rows[-1][0]
            opened = self._open_messages(cipher, [row[1:] for row in rows])
            for (_, conversation_id, _, _, _, _), message in zip(rows, opened, strict=True):
                yield conversation_id, message

    def export_markdown(self, conversation_id: str) -> str:
        """The conversation as Markdown; damaged parts are named, never shown."""
        summary = self.conversation_summary(conversation_id)
        lines = [f"# {summary.title or 'Untitled conversation'}", ""]
        if summary.damaged:
            lines += ["_The title and dates of this conversation are damaged and could not be "
                      "read._", ""]
        else:
            lines += [f"_Started {_local_time(summary.created)}_", ""]
        for message in self.load_messages(conversation_id):
            if isinstance(message, DamagedMessage):
                lines += ["## Damaged message", "",
                          "> This message could not be read: it is damaged or missing.", ""]
                continue
            heading = _ROLE_HEADINGS[message.role]
            if message.model:
                heading += f" ({message.model})"
            lines += [f"## {heading} · {_local_time(message.created)}", "", message.text, ""]
            if message.state is MessageState.STOPPED:
                lines += ["_Stopped before the end._", ""]
            elif message.state is MessageState.FAILED:
                lines += [f"_Failed: {message.error}_" if message.error else "_Failed._", ""]
            elif message.state is MessageState.STREAMING:
                lines += ["_Unfinished._", ""]
        return "\n".join(lines).rstrip("\n") + "\n"

    def import_conversations(self, conversations: Iterable[ImportedConversation]) -> list[str]:
        """Store many conversations in one transaction (imports, benchmarks); returns ids."""
        cipher = self._require_cipher()
        now = time.time()
        summary_rows: list[tuple[str, str, bytes]] = []
        message_rows: list[tuple[str, str, int, str, bytes]] = []
        summaries: list[ConversationSummary] = []
        for conversation in conversations:
            cid = _check_id(conversation.id or secrets.token_hex(8))
            title = conversation.title or next(
                (title_from(m.text) for m in conversation.messages if m.role is Role.USER), "")
            created = conversation.created if conversation.created is not None else now
            updated = conversation.updated if conversation.updated is not None else created
            summary = ConversationSummary(cid, title, conversation.pinned, created, updated,
                                          len(conversation.messages))
            summaries.append(summary)
            summary_rows.append((cid, cipher.key_id, cipher.seal(
                _CONVERSATIONS, cid, cid, 0, _summary_body(summary))))
            for seq, message in enumerate(conversation.messages):
                mid = _check_id(message.id)
                message_rows.append((mid, cid, seq, cipher.key_id, cipher.seal(
                    _MESSAGES, cid, mid, seq, _message_body(message))))
        with self._lock:
            with self._transaction() as conn:
                conn.executemany("INSERT INTO conversations (id, key_id, body) VALUES (?, ?, ?)",
                                 summary_rows)
                conn.executemany(
                    "INSERT INTO messages (id, conversation_id, seq, key_id, body)"
                    " VALUES (?, ?, ?, ?, ?)", message_rows)
            for summary in summaries:
                self._summaries[summary.id] = summary
        return [s.id for s in summaries]

    # ---- preferences -----------------------------------------------------------------------

    def load_preference(self, name: str) -> dict[str, Any] | None:
        """The sealed record `name`, decrypted; None if it was never saved.

        PreferenceDamaged when the row fails authentication (it is left untouched).
        """
        cipher = self._require_cipher()
        with self._db() as conn:
            row = conn.execute("SELECT key_id, body FROM preferences WHERE name = ?",
                               (_check_preference(name),)).fetchone()
        if row is None:
            return None
        plaintext = cipher.open_many(_PREFERENCES, [(name, name, 0, row[0], row[1])])[0]
        try:
            if plaintext is None:
                raise ValueError("authentication failed")
            return _decode(plaintext)
        except ValueError:
            log.warning("damaged preference row")
            raise PreferenceDamaged("Saved preferences could not be read.") from None

    def save_preference(self, name: str, value: dict[str, Any]) -> None:
        """Seal and store `value` as the record `name` (replacing it); durable on return."""
        cipher = self._require_cipher()
        blob = cipher.seal(_PREFERENCES, name, name, 0, _encode(value))
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO preferences (name, key_id, body)"
                         " VALUES (?, ?, ?)", (_check_preference(name), cipher.key_id, blob))

    def check_integrity(self) -> bool:
        """SQLite's full integrity check (reads the whole file: run it off the GUI thread)."""
        with self._db() as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        return result == [("ok",)]


_ROLE_HEADINGS = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}


def _local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
