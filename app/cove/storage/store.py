"""ConversationStore: the public API of the encrypted history, reading and writing its rows.

Conversations and messages live in one SQLite file, every row body sealed with AES-256-GCM; only
random ids, sequence numbers and key ids are stored in clear. Each conversation has one small
sealed summary row (title, pinned, created, updated, message count), so the sidebar can list
thousands of conversations by decrypting only those. Plain Python, no Qt: the GUI calls the
small writes on its thread and bulk reads (search index, export) from one background worker;
one lock serialises use of the single connection. The file itself (checks, creation,
migrations) is ``storage.schema``; row bodies are ``storage.codecs``; the errors are
``storage.errors``; a conversation's export is ``storage.conversation_export``. The public
names of the first three are re-exported here, so callers need only this module.

Public API (``ConversationStore``):

- ``ConversationStore.open(path=None)``: open or create (default ``default_store_path()``);
  ``StoreDamaged`` (with ``.path``) for a truncated, garbage or foreign file, which is never
  written to, and for a file with a table removed; ``StoreTooNew`` for a newer schema;
  ``StoreUnavailable`` when the disk refuses (read-only, a file where a folder should be, full).
  Use as a context manager or call ``close()``.
- ``is_set_up``, ``is_unlocked``, ``key_source``, ``store_id``, ``schema_version``, ``path``.
- ``setup_with_keyring(timeout_s)`` / ``setup_with_passphrase(passphrase, kdf_params=None)``:
  first run: a new random data key, stored wrapped.
- ``unlock_with_keyring(timeout_s)`` / ``unlock_with_passphrase(passphrase)``; ``lock()``.
- ``change_passphrase(old, new, kdf_params=None)``: re-wraps the data key only.
- ``switch_to_keyring(timeout_s)`` / ``switch_to_passphrase(passphrase, kdf_params=None)``.
  Every ``timeout_s`` is seconds or a ``keys.KeyringWait`` (no limit, a Cancel, a prompt notice).
- Recovery key (``storage.recovery``): ``has_recovery_key()``, ``set_recovery_key(key)`` (needs
  the store unlocked; replaces, so revokes, any older one), ``remove_recovery_key()``,
  ``unlock_with_recovery_key(text)`` (then ``switch_to_*`` chooses the new key source, even
  the keyring again when its item was lost).
- ``data_key_for_backup() -> (bytes, str)``: the data key and its id, for ``storage.backup``.
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
- ``import_conversations(conversations) -> list[str]``: many at once, one transaction.
- ``load_preference(name) -> dict | None`` / ``save_preference(name, value)``: small sealed
  records of things a person typed that are not conversations (a model's system prompt);
  ``PreferenceDamaged`` when one fails authentication.
- ``check_integrity() -> bool``: SQLite's full ``integrity_check``.

Module functions: ``default_store_path(paths=None)``, ``set_aside(path) -> Path``.
Types: ``ConversationSummary`` (id, title, pinned, created, updated, message_count, damaged),
``DamagedMessage`` (id, conversation_id, seq, missing), ``ImportedConversation``.
Errors (all ``StoreError``): ``StoreDamaged``, ``StoreTooNew``, ``StoreUnavailable``,
``StoreLocked``, ``StoreNotSetUp``, ``AlreadySetUp``, ``NotFound`` (a ``LookupError``),
``DuplicateId`` (a ``ValueError``), ``ConversationDamaged``, ``PreferenceDamaged``; key errors
come from ``cove.storage.keys`` (``WrongPassphrase``, ``KeyringUnavailable``, ...). Deleting a
conversation does not touch a search index: the caller removes it there too
(``SearchIndex.remove_conversation``).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cove.core.conversation import (
    Message,
    Role,
    title_from,
)
from cove.paths import AppPaths, app_paths
from cove.storage import keys, recovery
from cove.storage.codecs import (
    ConversationSummary,
    DamagedMessage,
    check_id,
    check_preference_name,
    message_body,
    open_messages,
    open_preference,
    open_summaries,
    seal_message,
    seal_preference,
    seal_summary,
)
from cove.storage.crypto import KdfParams, RowCipher
from cove.storage.errors import (
    AlreadySetUp,
    ConversationDamaged,
    DuplicateId,
    NotFound,
    PreferenceDamaged,
    StoreDamaged,
    StoreError,
    StoreLocked,
    StoreNotSetUp,
    StoreTooNew,
    StoreUnavailable,
)
from cove.storage.keys import KEYRING_TIMEOUT_S, KeyRecord, KeyringWait, KeySource
from cove.storage.schema import (
    APPLICATION_ID,
    META_KEY_RECORD,
    MIGRATIONS,
    SCHEMA_VERSION,
    is_corruption,
    missing_table,
    open_file,
    set_aside,
)

if TYPE_CHECKING:
    from cove.storage.notes import NoteStore

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "AlreadySetUp",
    "ConversationDamaged",
    "ConversationStore",
    "ConversationSummary",
    "DamagedMessage",
    "DuplicateId",
    "ImportedConversation",
    "NotFound",
    "PreferenceDamaged",
    "StoreDamaged",
    "StoreError",
    "StoreLocked",
    "StoreNotSetUp",
    "StoreTooNew",
    "StoreUnavailable",
    "default_store_path",
    "set_aside",
]

log = logging.getLogger(__name__)

STORE_FILENAME = "cove.db"


@dataclass
class ImportedConversation:
    """One conversation for ``import_conversations``; unset times default to now."""

    messages: Sequence[Message]
    title: str = ""
    pinned: bool = False
    created: float | None = None
    updated: float | None = None
    id: str | None = None
    # The last message of the branch shown ("": the newest's), when `messages` is a tree
    # (each message's `parent` set): the summary's `leaf`.
    leaf: str = ""


def default_store_path(paths: AppPaths | None = None) -> Path:
    return (paths or app_paths()).data / STORE_FILENAME


def _missing(conversation_id: str, first_seq: int, end_seq: int) -> list[DamagedMessage]:
    """Markers for the rows at sequence numbers [first_seq, end_seq), which are gone."""
    return [DamagedMessage("", conversation_id, seq, missing=True)
            for seq in range(first_seq, end_seq)]


def _next_seq(conn: sqlite3.Connection, conversation_id: str) -> int:
    """One past the highest sequence number stored for the conversation (0 when it has none).

    Only integer ones count: SQLite lets an edited row hold text in `seq`, and text sorts
    above every number."""
    return int(conn.execute(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM messages"
        " WHERE conversation_id = ? AND typeof(seq) = 'integer'",
        (conversation_id,)).fetchone()[0])


def _is_seq(value: object) -> bool:
    """Whether a stored `seq` is what Cove writes: an integer (not text, a real or a blob)."""
    return type(value) is int


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
        self._recovered = False  # unlocked by the recovery key: the key source may be lost

    # ---- opening and closing -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | None = None) -> ConversationStore:
        path = Path(path) if path is not None else default_store_path()
        conn, store_id, record_text = open_file(path)
        try:
            record = KeyRecord.from_json(record_text) if record_text is not None else None
            if record is not None and record.store_id != store_id:
                raise StoreDamaged(path, "its key record belongs to another store")
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
                if is_corruption(error):
                    log.error("database damaged")
                    raise StoreDamaged(self.path, "SQLite reports it malformed") from None
                table = missing_table(error)
                if table is not None:
                    log.error("database table missing")
                    raise StoreDamaged(
                        self.path, f"its {table} table is missing (it was removed)") from None
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
                         (META_KEY_RECORD, record.to_json()))
        self._record = record

    def _use_data_key(self, data_key: bytes, key_id: str) -> None:
        self._data_key = data_key
        self._cipher = RowCipher(data_key, key_id)

    def _adopt_new_key(self, record: KeyRecord, data_key: bytes) -> None:
        """Store a new key record, then use its data key (a first-run setup)."""
        self._save_record(record)
        self._use_data_key(data_key, record.key_id)

    def _require_record(self) -> KeyRecord:
        if self._record is None:
            raise StoreNotSetUp("This history has no key yet.")
        return self._record

    def _require_unset(self) -> None:
        if self._record is not None:
            raise AlreadySetUp("This history already has a key.")

    def setup_with_keyring(self, timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> None:
        """First run, keyring kind; KeyringUnavailable (nothing written) means: ask for a
        passphrase instead."""
        self._require_unset()
        self._adopt_new_key(*keys.create_with_keyring(self.store_id, timeout_s))

    def setup_with_passphrase(self, passphrase: str, kdf_params: KdfParams | None = None) -> None:
        """First run, passphrase kind; `kdf_params` default to calibrated (about 0.5 s)."""
        self._require_unset()
        self._adopt_new_key(*keys.create_with_passphrase(self.store_id, passphrase, kdf_params))

    def unlock_with_keyring(self, timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> None:
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
            self._recovered = False
            self._summaries = {}
            self._all_summaries_loaded = False
            if self._note_store is not None:
                self._note_store.forget()  # the decrypted notes go with the key

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
        self._recovered = False
        if was_keyring:
            keys.forget_keyring_secret(self.store_id)

    def switch_to_keyring(self, timeout_s: float | KeyringWait = KEYRING_TIMEOUT_S) -> None:
        """Keep the key in the OS keyring from now on; KeyringUnavailable changes nothing."""
        record = self._require_record()
        data_key = self._require_data_key()
        if record.source is KeySource.KEYRING and not self._recovered:
            return  # a new secret would overwrite the live one before the new wrap is saved
        self._save_record(keys.rewrap_for_keyring(record, data_key, timeout_s))
        self._recovered = False

    # ---- recovery key ----------------------------------------------------------------------

    def _recovery_text(self) -> str | None:
        with self._db() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = ?",
                               (recovery.META_RECOVERY_RECORD,)).fetchone()
        return None if row is None else str(row[0])

    def has_recovery_key(self) -> bool:
        return self._recovery_text() is not None

    def set_recovery_key(self, key: recovery.RecoveryKey) -> None:
        """Wrap the data key for `key`, replacing (and so revoking) any older recovery key."""
        record = self._require_record()
        wrapped = recovery.wrap_for_recovery(self.store_id, record.key_id,
                                             self._require_data_key(), key)
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                         (recovery.META_RECOVERY_RECORD, wrapped.to_json()))
        log.info("recovery key set")

    def remove_recovery_key(self) -> None:
        self._require_data_key()  # only someone who has opened the history may remove it
        with self._transaction() as conn:
            conn.execute("DELETE FROM meta WHERE name = ?", (recovery.META_RECOVERY_RECORD,))
        log.info("recovery key removed")

    def unlock_with_recovery_key(self, text: str) -> None:
        """Load the data key with the recovery key; RecoveryKeyMistyped, WrongRecoveryKey or
        NoRecoveryKey leave the store locked and the file untouched."""
        record = self._require_record()
        stored = self._recovery_text()
        if stored is None:
            raise recovery.NoRecoveryKey()
        key = recovery.parse_recovery_key(text)
        wrapped = recovery.RecoveryRecord.from_json(stored)
        if wrapped.store_id != self.store_id or wrapped.key_id != record.key_id:
            raise recovery.RecoveryRecordDamaged()
        self._use_data_key(recovery.unwrap_with_recovery_key(wrapped, key), record.key_id)
        self._recovered = True

    def _require_data_key(self) -> bytes:
        if self._data_key is None:
            raise StoreLocked("Unlock the history first.")
        return self._data_key

    def data_key_for_backup(self) -> tuple[bytes, str]:
        """(data key, key id), sealed into an encrypted backup only (``storage.backup``), so a
        restore on another machine can open the rows it copies as they are."""
        return self._require_data_key(), self._require_record().key_id

    def _require_cipher(self) -> RowCipher:
        if self._cipher is None:
            raise StoreLocked("Unlock the history first.")
        return self._cipher

    # ---- conversations ---------------------------------------------------------------------

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
        summary = open_summaries(cipher, [(conversation_id, row[0], row[1])])[conversation_id]
        self._summaries[conversation_id] = summary
        return summary

    def _write_summary(self, conn: sqlite3.Connection, summary: ConversationSummary,
                       insert: bool = False) -> None:
        cipher = self._require_cipher()
        blob = seal_summary(cipher, summary)
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
        conversation_id = check_id(conversation_id or secrets.token_hex(8))
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
                self._summaries = open_summaries(cipher, rows)
                self._all_summaries_loaded = True
            summaries = list(self._summaries.values())
        summaries.sort(key=ConversationSummary.sidebar_order)
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

    def set_conversation_settings(self, conversation_id: str, settings: str) -> None:
        """Keep a conversation's own settings (ConversationSettings JSON; "" for none)."""
        self._change_summary(conversation_id, settings=settings)

    def set_leaf(self, conversation_id: str, leaf: str) -> None:
        """Remember which branch is shown: the id of its last message."""
        self._change_summary(conversation_id, leaf=check_id(leaf) if leaf else "")

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
        message_id = check_id(message.id)
        body = message_body(message)
        with self._lock:
            summary = self._writable_summary(conversation_id)
            with self._transaction() as conn:
                seq = _next_seq(conn, conversation_id)
                blob = seal_message(cipher, conversation_id, message_id, seq, body)
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

    def withdraw_last_messages(self, conversation_id: str, message_ids: Sequence[str]) -> bool:
        """Remove the conversation's newest messages named in `message_ids` (a message the
        model refused as too long, and the reply that never came), securely, like a delete.
        A conversation left empty is deleted; returns True when that happened."""
        with self._lock:
            with self._transaction() as conn:
                ends = conn.execute(
                    "SELECT id FROM messages WHERE conversation_id = ? AND typeof(seq) ="
                    " 'integer' ORDER BY seq DESC LIMIT ?",
                    (conversation_id, len(message_ids))).fetchall()
                if {row[0] for row in ends} != set(message_ids):
                    raise NotFound("Only the newest messages can be withdrawn.")
                conn.executemany("DELETE FROM messages WHERE id = ?",
                                 [(message_id,) for message_id in message_ids])
                remaining = _next_seq(conn, conversation_id)
                if remaining:
                    summary = self._writable_summary(conversation_id)._replace(
                        message_count=remaining)
                    self._write_summary(conn, summary)
                    self._summaries[conversation_id] = summary
            with self._db() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not remaining:
            self.delete_conversation(conversation_id)
        return not remaining

    def forget_freed(self) -> None:
        """Move freed (zeroed) pages out of the write-ahead log into the file and cut the log,
        so a deleted message's old text is nowhere on disk."""
        with self._lock, self._db() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def update_message(self, message: Message) -> None:
        """Rewrite a stored message (matched by ``message.id``), e.g. a reply as it streams.

        One primary-key lookup, one seal and one small commit: cheap enough to call every second.
        """
        cipher = self._require_cipher()
        body = message_body(message)
        with self._transaction() as conn:
            row = conn.execute("SELECT conversation_id, seq FROM messages WHERE id = ?",
                               (message.id,)).fetchone()
            if row is None:
                raise NotFound("No such message.")
            conversation_id, seq = row
            blob = seal_message(cipher, conversation_id, message.id, seq, body)
            conn.execute("UPDATE messages SET key_id = ?, body = ? WHERE id = ?",
                         (cipher.key_id, blob, message.id))

    def message_count(self, conversation_id: str) -> int:
        with self._lock:
            summary = self._summary(conversation_id)
            if not summary.damaged:
                return summary.message_count
            with self._db() as conn:
                return _next_seq(conn, conversation_id)

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
        # A row whose seq is not an integer was edited by hand: it shows as damaged, at the end
        # (SQLite sorts text and blobs after numbers), and its place shows as missing.
        edited = [DamagedMessage(message_id, conversation_id, -1)
                  for message_id, seq, _, _ in rows if not _is_seq(seq)]
        rows = [row for row in rows if _is_seq(row[1])]
        opened = open_messages(cipher, [(conversation_id, message_id, seq, key_id, blob)
                                        for message_id, seq, key_id, blob in rows])
        loaded: list[Message | DamagedMessage] = []
        expected = offset
        for message, (_, seq, _, _) in zip(opened, rows, strict=True):
            # Sequence numbers are dense, so a gap is a row someone removed.
            loaded.extend(_missing(conversation_id, expected, seq))
            loaded.append(message)
            expected = seq + 1
        if not summary.damaged:
            upper = summary.message_count if end is None else min(end, summary.message_count)
            loaded.extend(_missing(conversation_id, expected, upper))
        if edited:
            log.warning("message rows with an edited sequence number: %d", len(edited))
        return loaded + edited

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
            for row in rows:
                if not _is_seq(row[3]):
                    yield row[1], DamagedMessage(row[2], row[1], -1)
            rows = [row for row in rows if _is_seq(row[3])]
            opened = open_messages(cipher, [row[1:] for row in rows])
            for (_, conversation_id, _, _, _, _), message in zip(rows, opened, strict=True):
                yield conversation_id, message

    def import_conversations(self, conversations: Iterable[ImportedConversation]) -> list[str]:
        """Store many conversations in one transaction (imports, benchmarks); returns ids."""
        cipher = self._require_cipher()
        now = time.time()
        summary_rows: list[tuple[str, str, bytes]] = []
        message_rows: list[tuple[str, str, int, str, bytes]] = []
        summaries: list[ConversationSummary] = []
        for conversation in conversations:
            cid = check_id(conversation.id or secrets.token_hex(8))
            title = conversation.title or next(
                (title_from(m.text) for m in conversation.messages if m.role is Role.USER), "")
            created = conversation.created if conversation.created is not None else now
            updated = conversation.updated if conversation.updated is not None else created
            summary = ConversationSummary(cid, title, conversation.pinned, created, updated,
                                          len(conversation.messages),
                                          leaf=check_id(conversation.leaf)
                                          if conversation.leaf else "")
            summaries.append(summary)
            summary_rows.append((cid, cipher.key_id, seal_summary(cipher, summary)))
            for seq, message in enumerate(conversation.messages):
                mid = check_id(message.id)
                message_rows.append((mid, cid, seq, cipher.key_id,
                                     seal_message(cipher, cid, mid, seq, message_body(message))))
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
                               (check_preference_name(name),)).fetchone()
        if row is None:
            return None
        return open_preference(cipher, name, row[0], row[1])

    def save_preference(self, name: str, value: dict[str, Any]) -> None:
        """Seal and store `value` as the record `name` (replacing it); durable on return."""
        cipher = self._require_cipher()
        blob = seal_preference(cipher, name, value)
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO preferences (name, key_id, body)"
                         " VALUES (?, ?, ?)", (check_preference_name(name), cipher.key_id, blob))

    # ---- notes (storage.notes keeps their rows; this file only hands them the store) --------

    _note_store: NoteStore | None = None

    @property
    def notes(self) -> NoteStore:
        """The notes kept in this file, sealed under the same key (``storage.notes``)."""
        if self._note_store is None:
            from cove.storage.notes import NoteStore

            self._note_store = NoteStore(self)
        return self._note_store

    def check_integrity(self) -> bool:
        """SQLite's full integrity check (reads the whole file: run it off the GUI thread)."""
        with self._db() as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        return result == [("ok",)]


