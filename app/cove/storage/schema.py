"""The SQLite file: checks before opening, connection settings, creation and schema migrations.

Nothing here decrypts or knows about keys: ``open_file`` hands back a configured connection at
the current schema version with the two clear ``meta`` values (store id, key record text).
A file that fails a check is never written to.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sqlite3
import time
from pathlib import Path

from cove.core.fsutil import fsync_dir
from cove.storage.errors import StoreDamaged, StoreError, StoreTooNew, StoreUnavailable

log = logging.getLogger(__name__)

APPLICATION_ID = 0x436F7665  # "Cove": tells our files from any other SQLite file
_SQLITE_MAGIC = b"SQLite format 3\x00"

META_STORE_ID = "store_id"
META_KEY_RECORD = "key_record"


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


def _schema_v4(conn: sqlite3.Connection) -> None:
    # No table changes: from this version a note's sealed body may be in format 2
    # (cove.storage.notes), which a Cove that knows only format 1 would show as damaged. The
    # version step makes such a Cove refuse the file as too new instead. Format 1 bodies stay
    # as they are until their note changes.
    del conn


# MIGRATIONS[n] takes a store from schema version n to n + 1; append, never edit.
MIGRATIONS = (_schema_v1, _schema_v2, _schema_v3, _schema_v4)
SCHEMA_VERSION = len(MIGRATIONS)
# The tables the current schema has; a file missing one was edited by hand.
TABLES = ("meta", "conversations", "messages", "notes", "preferences")


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

def sidecars(path: Path) -> list[Path]:
    """The database file and the write-ahead log and shared-memory files SQLite keeps beside it."""
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def set_aside(path: Path) -> Path:
    """Rename a damaged store (and its -wal/-shm) out of the way; returns the new path.

    The user starts afresh while the old file is kept, e.g. ``cove.db.damaged-20250101-120000``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    attempt = 1
    while any(p.exists() for p in sidecars(target)):
        target = path.with_name(f"{path.name}.damaged-{stamp}-{attempt}")
        attempt += 1
    for source, destination in zip(sidecars(path), sidecars(target), strict=True):
        if source.exists():
            os.rename(source, destination)
    log.warning("damaged store set aside")
    return target


def is_corruption(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite's error means the file is damaged (rather than busy, full or misused)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return type(error) is sqlite3.DatabaseError
    return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def unavailable_reason(error: OSError | sqlite3.Error) -> str | None:
    """Why the disk refused (full, read-only, not a folder), or None for any other failure."""
    if isinstance(error, OSError):
        if error.errno == errno.ENOSPC:
            return "the disk is full"
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "it or its folder is read-only or not yours"
        if error.errno in (errno.ENOTDIR, errno.EEXIST):
            return "a file stands where its folder should be"
        return error.strerror or type(error).__name__
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == sqlite3.SQLITE_FULL:
        return "the disk is full"
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return "it or its folder is read-only or not yours"
    if primary == sqlite3.SQLITE_CANTOPEN:
        return "it or its folder cannot be opened or written (read-only, or not a folder)"
    if primary == sqlite3.SQLITE_IOERR:
        return "the disk reported an error"
    return None


def missing_table(error: sqlite3.Error) -> str | None:
    """The table named by a 'no such table' error, else None."""
    text = str(error)
    prefix = "no such table: "
    return text[len(prefix):].strip() if text.startswith(prefix) else None


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
    try:
        conn = _connect(building)
        try:
            _configure(conn)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            _migrate(conn, 0)
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)",
                         (META_STORE_ID, secrets.token_hex(16)))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except BaseException:
        for leftover in sidecars(building):  # a full disk must not leave a half-made file
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    for leftover in sidecars(building)[1:]:
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


def open_file(path: Path) -> tuple[sqlite3.Connection, str, str | None]:
    """(connection, store id, key record JSON or None) for the store at `path`.

    Creates the file when neither it nor its journal exists, checks it is a Cove history,
    configures the connection and migrates it to ``SCHEMA_VERSION``. StoreDamaged for a
    truncated, garbage or foreign file, or one with a table missing; StoreTooNew for a newer
    schema; StoreUnavailable when the disk refuses (read-only, a file where a folder should be,
    full). The caller closes the connection.
    """
    try:
        return _open_file(path)
    except (OSError, sqlite3.OperationalError) as error:
        reason = unavailable_reason(error)
        if reason is None:
            raise
        log.error("store cannot be opened: %s", type(error).__name__)
        raise StoreUnavailable(path, reason) from None


def _open_file(path: Path) -> tuple[sqlite3.Connection, str, str | None]:
    if not path.exists():
        if any(p.exists() for p in sidecars(path)[1:]):
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
        present = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in TABLES:
            if table not in present:
                raise StoreDamaged(path, f"its {table} table is missing (it was removed)")
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        store_id = meta.get(META_STORE_ID)
        if not isinstance(store_id, str):
            raise StoreDamaged(path, "its store id is missing")
    except sqlite3.DatabaseError as error:
        conn.close()
        if is_corruption(error):
            raise StoreDamaged(path, "SQLite reports it malformed") from None
        missing = missing_table(error)
        if missing is not None:
            raise StoreDamaged(path, f"its {missing} table is missing (it was removed)") from None
        raise
    except BaseException:
        conn.close()
        raise
    return conn, store_id, meta.get(META_KEY_RECORD)
