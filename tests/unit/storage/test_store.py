"""ConversationStore on a real SQLite file: round trips, damage, schema and file checks."""

from __future__ import annotations

import errno
import hashlib
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cove.core.conversation import Conversation, Message, MessageState, ReplyStats, Role
from cove.storage import conversation_export, schema
from cove.storage.codecs import DamagedMessage
from cove.storage.errors import (
    ConversationDamaged,
    DuplicateId,
    NotFound,
    PreferenceDamaged,
    StoreDamaged,
    StoreLocked,
    StoreTooNew,
    StoreUnavailable,
)
from cove.storage.schema import SCHEMA_VERSION, set_aside
from cove.storage.store import ConversationStore, ImportedConversation, default_store_path
from tests.unit.storage import MemoryKeyring, using_keyring


@pytest.fixture
def keyring_backend() -> Iterator[MemoryKeyring]:
    with using_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend


@pytest.fixture
def store_path(tmp_path: Path, keyring_backend: MemoryKeyring) -> Path:
    path = tmp_path / "cove.db"
    with ConversationStore.open(path) as store:
        store.setup_with_keyring()
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore.open(store_path) as opened:
        opened.unlock_with_keyring()
        yield opened


def reopen(path: Path) -> ConversationStore:
    store = ConversationStore.open(path)
    store.unlock_with_keyring()
    return store


def texts(messages: list[Message | DamagedMessage]) -> list[str | None]:
    return [m.text if isinstance(m, Message) else None for m in messages]


def write_conversation(store: ConversationStore, count: int = 5) -> tuple[str, list[str]]:
    conversation = store.create_conversation("Damage drill")
    ids = [store.append_message(conversation, Message(Role.USER, f"message number {n}"))
           for n in range(count)]
    return conversation, ids


def raw_execute(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- conversations and messages ----------------------------------------------------------

def test_callers_still_find_every_public_name_in_the_store_module() -> None:
    # The window, `cove history` and the benchmarks import these from cove.storage.store; they
    # now live in errors, codecs and schema, and must stay the very same objects.
    from cove.storage import codecs, errors, schema, store

    moved = {name: getattr(module, name) for module in (codecs, errors, schema)
             for name in store.__all__ if hasattr(module, name)}
    assert set(store.__all__) - set(moved) == {
        "ConversationStore", "ImportedConversation", "STORE_FILENAME", "default_store_path"}
    assert all(getattr(store, name) is value for name, value in moved.items())
    assert {"ConversationSummary", "DamagedMessage", "StoreDamaged", "set_aside",
            "PreferenceDamaged", "NotFound", "StoreError"} <= set(moved)


def test_default_path_is_under_cove_home(cove_home: Path) -> None:
    assert default_store_path() == cove_home.resolve() / "data" / "cove.db"


def test_conversations_list_pinned_first_then_newest(store_path: Path) -> None:
    with reopen(store_path) as store:
        old = store.create_conversation("Old")
        middle = store.create_conversation("Middle")
        new = store.create_conversation("New")
        store.append_message(middle, Message(Role.USER, "bump"))
        store.append_message(new, Message(Role.USER, "bump"))
        store.set_pinned(old, True)
        assert [c.id for c in store.list_conversations()] == [old, new, middle]
        store.rename_conversation(middle, "Renamed")
    with reopen(store_path) as store:
        summaries = store.list_conversations()
        assert [(c.title, c.pinned, c.message_count) for c in summaries] == [
            ("Old", True, 0), ("New", False, 1), ("Renamed", False, 1)]
        assert all(c.created <= c.updated and not c.damaged for c in summaries)


def test_first_user_message_titles_an_untitled_conversation(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    store.append_message(conversation, Message(Role.ASSISTANT, "Hello, how can I help?"))
    store.append_message(conversation, Message(Role.USER, "Plan a   trip\nto Lisbon"))
    assert store.conversation_summary(conversation).title == "Plan a trip"  # its first line


def test_every_message_field_round_trips(store_path: Path) -> None:
    stats = ReplyStats(model="smol", tokens=12, seconds=0.5, tokens_per_second=24.0,
                       ttft_seconds=0.1, prompt_tokens=30)
    original = Message(Role.ASSISTANT, "partial reply", model="smol",
                       state=MessageState.FAILED, stats=stats, error="out of memory",
                       created=1700000000.25)
    with reopen(store_path) as store:
        conversation = store.create_conversation()
        assert store.append_message(conversation, original) == original.id
    with reopen(store_path) as store:
        assert store.load_messages(conversation) == [original]


def test_a_streaming_reply_is_updated_in_place(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation = store.create_conversation()
        store.append_message(conversation, Message(Role.USER, "tell me"))
        reply = Message(Role.ASSISTANT, "", state=MessageState.STREAMING)
        store.append_message(conversation, reply)
        for text in ("Once", "Once upon", "Once upon a time"):
            reply.text = text
            store.update_message(reply)
        reply.state = MessageState.DONE
        store.update_message(reply)
        with pytest.raises(NotFound):
            store.update_message(Message(Role.ASSISTANT, "never stored"))
    with reopen(store_path) as store:
        loaded = store.load_messages(conversation)
        assert texts(loaded) == ["tell me", "Once upon a time"]
        assert isinstance(loaded[1], Message)
        assert loaded[1].state is MessageState.DONE
        assert store.message_count(conversation) == 2


def test_messages_load_lazily_by_position(store: ConversationStore) -> None:
    conversation, _ = write_conversation(store, count=10)
    assert store.message_count(conversation) == 10
    assert texts(store.load_messages(conversation, offset=7)) == [
        f"message number {n}" for n in (7, 8, 9)]
    assert texts(store.load_messages(conversation, offset=2, limit=3)) == [
        f"message number {n}" for n in (2, 3, 4)]
    assert store.load_messages(conversation, offset=10, limit=5) == []


def test_unknown_ids_and_non_random_ids_are_refused(store: ConversationStore) -> None:
    with pytest.raises(NotFound):
        store.load_messages("0" * 16)
    with pytest.raises(NotFound):
        store.delete_conversation("0" * 16)
    conversation = store.create_conversation()
    with pytest.raises(ValueError):
        store.append_message(conversation, Message(Role.USER, "x", id="my secret title"))
    with pytest.raises(ValueError):
        store.create_conversation(conversation_id="Trip to Lisbon")
    message = Message(Role.USER, "once")
    store.append_message(conversation, message)
    with pytest.raises(DuplicateId):
        store.append_message(conversation, message)
    with pytest.raises(DuplicateId):
        store.create_conversation(conversation_id=conversation)
    assert texts(store.load_messages(conversation)) == ["once"]
    assert store.message_count(conversation) == 1


def test_a_locked_store_reads_and_writes_nothing(store_path: Path) -> None:
    with ConversationStore.open(store_path) as store:
        assert store.is_set_up and not store.is_unlocked
        with pytest.raises(StoreLocked):
            store.list_conversations()
        with pytest.raises(StoreLocked):
            store.create_conversation("x")
        store.unlock_with_keyring()
        store.create_conversation("x")
        store.lock()
        with pytest.raises(StoreLocked):
            store.list_conversations()


def test_iter_all_messages_covers_every_conversation(store: ConversationStore) -> None:
    first, first_ids = write_conversation(store, count=3)
    second, second_ids = write_conversation(store, count=4)
    seen = list(store.iter_all_messages(batch_size=2))
    assert sorted((cid, m.id) for cid, m in seen) == sorted(
        [(first, mid) for mid in first_ids] + [(second, mid) for mid in second_ids])


def test_import_conversations_in_one_go(store_path: Path) -> None:
    with reopen(store_path) as store:
        ids = store.import_conversations([
            ImportedConversation([Message(Role.USER, f"question {n}"),
                                  Message(Role.ASSISTANT, f"answer {n}")],
                                 created=1000.0 + n, updated=2000.0 + n)
            for n in range(3)
        ])
    with reopen(store_path) as store:
        summaries = store.list_conversations()
        assert [s.id for s in summaries] == ids[::-1]
        assert [s.title for s in summaries] == ["question 2", "question 1", "question 0"]
        assert texts(store.load_messages(ids[0])) == ["question 0", "answer 0"]


def test_export_markdown_names_roles_and_damage(store: ConversationStore,
                                                store_path: Path) -> None:
    conversation = store.create_conversation("Lisbon trip")
    store.append_message(conversation, Message(Role.USER, "Where should I eat?"))
    damaged = store.append_message(conversation, Message(Role.ASSISTANT, "Try **Ramiro**.",
                                                         model="smollm2"))
    store.append_message(conversation, Message(Role.ASSISTANT, "Also", model="smollm2",
                                               state=MessageState.STOPPED))
    exported = conversation_export.as_markdown(store, conversation)
    assert exported.startswith("# Lisbon trip\n")
    assert "## You · " in exported and "Where should I eat?" in exported
    assert "## Assistant (smollm2) · " in exported and "Try **Ramiro**." in exported
    assert "_Stopped before the end._" in exported
    raw_execute(store_path, "UPDATE messages SET body = zeroblob(300) WHERE id = ?", (damaged,))
    exported = conversation_export.as_markdown(store, conversation)
    assert "Ramiro" not in exported
    assert "This message could not be read" in exported


# ---- round trips -------------------------------------------------------------------------

@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, exclude_categories=())),  # lone surrogates too
    st.sampled_from(["", "\x00", "a\x00b", "\x00" * 300, "🌊" * 100, "\r\n\t"]),
))
def test_any_text_round_trips(store: ConversationStore, text: str) -> None:
    conversation = store.create_conversation(title=text)
    message_id = store.append_message(conversation, Message(Role.USER, text))
    assert texts(store.load_messages(conversation)) == [text]
    assert store.load_messages(conversation)[0].id == message_id
    assert store.conversation_summary(conversation).title == text


def test_a_one_megabyte_message_round_trips_through_the_file(store_path: Path) -> None:
    text = ("Ünïcödé 🌊 \x00 " * 80_000)[:1_000_000]
    with reopen(store_path) as store:
        conversation = store.create_conversation()
        store.append_message(conversation, Message(Role.ASSISTANT, text))
    with reopen(store_path) as store:
        assert texts(store.load_messages(conversation)) == [text]


# ---- what is stored in clear -------------------------------------------------------------

def test_only_ids_sequence_numbers_and_key_ids_are_clear_columns(store_path: Path) -> None:
    def columns(table: str) -> dict[str, str]:
        return {str(row[1]): str(row[2]) for row in
                raw_execute(store_path, f"PRAGMA table_info({table})")}

    assert columns("conversations") == {"id": "TEXT", "key_id": "TEXT", "body": "BLOB"}
    assert columns("messages") == {"id": "TEXT", "conversation_id": "TEXT", "seq": "INTEGER",
                                   "key_id": "TEXT", "body": "BLOB"}
    assert columns("notes") == {"id": "TEXT", "key_id": "TEXT", "body": "BLOB"}
    assert columns("preferences") == {"name": "TEXT", "key_id": "TEXT", "body": "BLOB"}
    assert raw_execute(store_path, "PRAGMA journal_mode") == [("wal",)]


# ---- damage ------------------------------------------------------------------------------

def test_one_flipped_byte_anywhere_in_a_message_row_shows_it_damaged(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, ids = write_conversation(store, count=3)
    (blob,) = raw_execute(store_path, "SELECT body FROM messages WHERE id = ?", (ids[1],))[0]
    assert isinstance(blob, bytes)
    with reopen(store_path) as store:
        for position in range(len(blob)):
            damaged = bytearray(blob)
            damaged[position] ^= 1 << (position % 8)
            raw_execute(store_path, "UPDATE messages SET body = ? WHERE id = ?",
                        (bytes(damaged), ids[1]))
            loaded = store.load_messages(conversation)
            assert loaded[1] == DamagedMessage(ids[1], conversation, 1), position
            assert texts(loaded) == ["message number 0", None, "message number 2"]
    raw_execute(store_path, "UPDATE messages SET body = ? WHERE id = ?", (blob, ids[1]))
    with reopen(store_path) as store:
        assert texts(store.load_messages(conversation))[1] == "message number 1"


def test_a_flipped_byte_in_the_database_file_is_caught(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, ids = write_conversation(store, count=3)
    (blob,) = raw_execute(store_path, "SELECT body FROM messages WHERE id = ?", (ids[2],))[0]
    assert isinstance(blob, bytes)
    raw = bytearray(store_path.read_bytes())
    where = raw.find(blob)
    assert where > 0, "the blob should sit in the checkpointed file"
    raw[where + 40] ^= 0x20
    store_path.write_bytes(bytes(raw))
    with reopen(store_path) as store:
        loaded = store.load_messages(conversation)
        assert texts(loaded) == ["message number 0", "message number 1", None]
        assert isinstance(loaded[2], DamagedMessage)


def test_a_damaged_summary_marks_the_conversation_and_its_messages_still_load(
        store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, _ = write_conversation(store, count=2)
        healthy = store.create_conversation("Healthy")
    (blob,) = raw_execute(store_path, "SELECT body FROM conversations WHERE id = ?",
                          (conversation,))[0]
    assert isinstance(blob, bytes)
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0xFF
    raw_execute(store_path, "UPDATE conversations SET body = ? WHERE id = ?",
                (bytes(damaged), conversation))
    with reopen(store_path) as store:
        summaries = {s.id: s for s in store.list_conversations()}
        assert summaries[conversation].damaged
        assert summaries[conversation].title == ""
        assert not summaries[healthy].damaged
        assert texts(store.load_messages(conversation)) == [
            "message number 0", "message number 1"]
        assert store.message_count(conversation) == 2
        with pytest.raises(ConversationDamaged):
            store.append_message(conversation, Message(Role.USER, "more"))
        exported = conversation_export.as_markdown(store, conversation)
        assert "title and dates of this conversation are damaged" in exported


def test_a_row_copied_over_another_row_is_damaged(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, ids = write_conversation(store, count=3)
        other, other_ids = write_conversation(store, count=1)
    copy_sql = ("UPDATE messages SET body = (SELECT body FROM messages WHERE id = ?) "
                "WHERE id = ?")
    raw_execute(store_path, copy_sql, (ids[0], ids[2]))
    raw_execute(store_path, copy_sql, (ids[1], other_ids[0]))
    raw_execute(store_path, "UPDATE conversations SET body = (SELECT body FROM conversations "
                "WHERE id = ?) WHERE id = ?", (conversation, other))
    with reopen(store_path) as store:
        assert texts(store.load_messages(conversation)) == [
            "message number 0", "message number 1", None]
        assert texts(store.load_messages(other)) == [None]
        summaries = {s.id: s for s in store.list_conversations()}
        assert summaries[other].damaged and not summaries[conversation].damaged


def test_rows_renumbered_moved_or_removed_are_damaged(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, ids = write_conversation(store, count=4)
        other = store.create_conversation("Other")
        store.append_message(other, Message(Role.USER, "other"))
    # Swap the sequence numbers of the first two messages (swap the order they show in).
    raw_execute(store_path, "UPDATE messages SET seq = -1 WHERE id = ?", (ids[0],))
    raw_execute(store_path, "UPDATE messages SET seq = 0 WHERE id = ?", (ids[1],))
    raw_execute(store_path, "UPDATE messages SET seq = 1 WHERE id = ?", (ids[0],))
    # Move the third into the other conversation; delete the fourth.
    raw_execute(store_path, "UPDATE messages SET conversation_id = ?, seq = 1 WHERE id = ?",
                (other, ids[2]))
    raw_execute(store_path, "DELETE FROM messages WHERE id = ?", (ids[3],))
    with reopen(store_path) as store:
        loaded = store.load_messages(conversation)
        assert texts(loaded) == [None, None, None, None]
        assert [m.missing for m in loaded if isinstance(m, DamagedMessage)] == [
            False, False, True, True]
        assert texts(store.load_messages(other)) == ["other", None]


# ---- the file itself ---------------------------------------------------------------------

def test_schema_version_is_stored_and_an_old_store_is_migrated(store_path: Path) -> None:
    assert raw_execute(store_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with reopen(store_path) as store:
        conversation, _ = write_conversation(store, count=2)
    # Turn the file back into a version 1 store, as an older Cove left it.
    raw_execute(store_path, "DROP TABLE notes")
    raw_execute(store_path, "DROP TABLE preferences")
    raw_execute(store_path, "PRAGMA user_version = 1")
    with reopen(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.load_messages(conversation)) == 2
        store.save_preference("system_prompts", {"prompts": {}})
    assert raw_execute(store_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in raw_execute(store_path, "SELECT name FROM sqlite_master")}
    assert {"notes", "preferences"} <= tables


def test_a_store_from_a_newer_cove_is_refused_untouched(store_path: Path) -> None:
    raw_execute(store_path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = digest(store_path)
    with pytest.raises(StoreTooNew):
        ConversationStore.open(store_path)
    assert digest(store_path) == before


def damage_by_truncation(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_by_cutting_mid_page(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-100])


def damage_by_garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def damage_by_header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def damage_by_emptying(path: Path) -> None:
    path.write_bytes(b"")


def damage_by_foreign_database(path: Path) -> None:
    path.unlink()
    raw_execute(path, "CREATE TABLE recipes (name TEXT)")


@pytest.mark.parametrize(
    "damage",
    [damage_by_truncation, damage_by_cutting_mid_page, damage_by_garbage,
     damage_by_header_only, damage_by_emptying, damage_by_foreign_database],
    ids=["truncated", "cut mid-page", "garbage", "header only", "empty", "foreign"],
)
def test_a_damaged_file_is_detected_at_open_and_left_alone(
        store_path: Path, damage: Callable[[Path], None]) -> None:
    with reopen(store_path) as store:
        for n in range(30):
            store.create_conversation(f"Conversation {n}")
            write_conversation(store, count=3)
    damage(store_path)
    before = digest(store_path)
    with pytest.raises(StoreDamaged) as caught:
        ConversationStore.open(store_path)
    assert caught.value.path == store_path
    assert digest(store_path) == before
    assert sorted(p.name for p in store_path.parent.iterdir()) == ["cove.db"]

    kept = set_aside(store_path)
    assert kept.name.startswith("cove.db.damaged-")
    assert digest(kept) == before
    assert not store_path.exists()
    with ConversationStore.open(store_path) as fresh:
        assert not fresh.is_set_up
    assert kept.exists()


def test_set_aside_never_overwrites_an_earlier_damaged_copy(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    path.write_bytes(b"first")
    first = set_aside(path)
    path.write_bytes(b"second")
    second = set_aside(path)
    assert first != second
    assert first.read_bytes() == b"first" and second.read_bytes() == b"second"


def test_garbage_pages_behind_a_sound_header_are_reported_as_damage(store_path: Path) -> None:
    with reopen(store_path) as store:
        for _ in range(20):
            write_conversation(store, count=5)
    data = bytearray(store_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    noise = random.Random(3).randbytes(len(data) - page_size)
    store_path.write_bytes(bytes(data[:page_size]) + noise)
    with pytest.raises(StoreDamaged) as caught:
        store = ConversationStore.open(store_path)
        store.unlock_with_keyring()
        for summary in store.list_conversations():
            store.load_messages(summary.id)
    assert caught.value.path == store_path


def test_a_background_reader_and_the_gui_writer_share_the_store(store: ConversationStore) -> None:
    conversation, _ = write_conversation(store, count=300)
    seen: list[int] = []
    failures: list[BaseException] = []

    def index_everything() -> None:
        try:
            seen.append(sum(1 for _ in store.iter_all_messages(batch_size=7)))
        except BaseException as error:
            failures.append(error)

    reader = threading.Thread(target=index_everything)
    reader.start()
    for n in range(50):
        store.append_message(conversation, Message(Role.USER, f"while indexing {n}"))
    reader.join(timeout=30)
    assert failures == []
    assert 300 <= seen[0] <= 350
    assert store.message_count(conversation) == 350


# ---- preferences ---------------------------------------------------------------------------

def test_preferences_are_sealed_and_round_trip(store_path: Path) -> None:
    value = {"prompts": {"0123456789abcdef": "CANARY-pref Speak like a sailor. ⚓"}}
    with reopen(store_path) as store:
        assert store.load_preference("system_prompts") is None
        store.save_preference("system_prompts", value)
        store.save_preference("system_prompts", value)  # replaced, not duplicated
    assert b"CANARY-pref" not in store_path.read_bytes()
    assert raw_execute(store_path, "SELECT name FROM preferences") == [("system_prompts",)]
    with reopen(store_path) as store:
        assert store.load_preference("system_prompts") == value
        with pytest.raises(ValueError):
            store.save_preference("Has spaces, like user text", value)
        store.lock()
        with pytest.raises(StoreLocked):
            store.load_preference("system_prompts")
        with pytest.raises(StoreLocked):
            store.save_preference("system_prompts", value)


def test_a_damaged_preference_row_is_reported_and_left_alone(store_path: Path) -> None:
    with reopen(store_path) as store:
        store.save_preference("system_prompts", {"prompts": {"a": "text"}})
        store.save_preference("other", {"x": 1})
    # Move one sealed body onto the other name: authentication ties a body to its name.
    body = raw_execute(store_path, "SELECT body FROM preferences WHERE name = 'other'")[0][0]
    raw_execute(store_path, "UPDATE preferences SET body = ? WHERE name = 'system_prompts'",
                (body,))
    with reopen(store_path) as store:
        with pytest.raises(PreferenceDamaged):
            store.load_preference("system_prompts")
        assert store.load_preference("other") == {"x": 1}
    assert raw_execute(store_path, "SELECT body FROM preferences WHERE name = 'system_prompts'"
                       ) == [(body,)]


# ---- hand edits and an unusable disk give sentences, not tracebacks --------------------------

@pytest.mark.parametrize("edited_seq", ["abc", 1.5, b"\x01"], ids=["text", "real", "blob"])
def test_a_message_whose_seq_is_not_an_integer_shows_as_damaged(
        store_path: Path, edited_seq: object) -> None:
    with reopen(store_path) as store:
        conversation, _ = write_conversation(store, count=3)
    raw_execute(store_path, "UPDATE messages SET seq = ? WHERE seq = 1", (edited_seq,))
    with reopen(store_path) as store:
        loaded = store.load_messages(conversation)
        assert texts(loaded) == ["message number 0", None, "message number 2", None]
        assert [m.seq for m in loaded if isinstance(m, DamagedMessage)] == [1, -1]
        exported = conversation_export.as_markdown(store, conversation)
        assert exported.count("## Damaged message") == 2
        assert len(list(store.iter_all_messages())) == 3
        store.append_message(conversation, Message(Role.USER, "after the edit"))
        assert texts(store.load_messages(conversation))[3] == "after the edit"


@pytest.mark.parametrize("table", ["messages", "conversations", "meta", "preferences"])
def test_a_dropped_table_is_named_when_the_file_opens(store_path: Path, table: str) -> None:
    raw_execute(store_path, f"DROP TABLE {table}")
    with pytest.raises(StoreDamaged, match=f"its {table} table is missing"):
        ConversationStore.open(store_path).close()


def test_a_table_dropped_while_open_is_named_too(store_path: Path) -> None:
    with reopen(store_path) as store:
        conversation, _ = write_conversation(store, count=1)
        raw_execute(store_path, "DROP TABLE messages")
        with pytest.raises(StoreDamaged, match="its messages table is missing"):
            store.load_messages(conversation)


def test_a_file_where_the_data_folder_should_be_is_said_in_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="a file stands where its folder should be"):
        ConversationStore.open(tmp_path / "data" / "cove.db")


def test_a_folder_sqlite_cannot_write_is_said_in_a_sentence(tmp_path: Path) -> None:
    # SQLite's own refusal (root ignores permission bits, so the folder is a file's name).
    (tmp_path / "cove.db").mkdir()
    with pytest.raises(StoreUnavailable, match="cannot open the history file"):
        ConversationStore.open(tmp_path / "cove.db" / "")


@pytest.mark.parametrize(("error", "reason"), [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (PermissionError(errno.EACCES, "Permission denied"), "read-only"),
    (OSError(errno.EROFS, "Read-only file system"), "read-only"),
])
def test_a_full_or_read_only_disk_at_creation_is_said_in_a_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, reason: str) -> None:
    def refuse(*_args: object) -> None:
        raise error

    monkeypatch.setattr(schema, "_create_new", refuse)
    with pytest.raises(StoreUnavailable, match=reason) as refused:
        ConversationStore.open(tmp_path / "cove.db")
    assert "\n" not in str(refused.value)


def test_sqlites_full_and_read_only_codes_become_sentences() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    read_only = sqlite3.OperationalError("attempt to write a readonly database")
    read_only.sqlite_errorcode = sqlite3.SQLITE_READONLY  # type: ignore[attr-defined]
    assert schema.unavailable_reason(full) == "the disk is full"
    assert "read-only" in str(schema.unavailable_reason(read_only))
    assert schema.unavailable_reason(sqlite3.OperationalError("syntax error")) is None


# ---- branches ------------------------------------------------------------------------------

def test_a_branched_conversation_round_trips_with_its_chosen_branch(
        store: ConversationStore, store_path: Path) -> None:
    conversation = Conversation()
    conversation_id = store.create_conversation(conversation_id=conversation.id)

    def add(message: Message) -> Message:
        conversation.add(message)
        store.append_message(conversation_id, message)
        return message

    question = add(Message(Role.USER, "Name a colour"))
    red = add(Message(Role.ASSISTANT, "Red"))
    conversation.branch_before(red)
    blue = add(Message(Role.ASSISTANT, "Blue"))
    add(Message(Role.USER, "Why blue?"))
    conversation.choose(red)
    store.set_leaf(conversation_id, conversation.leaf)

    summary = store.conversation_summary(conversation_id)
    loaded = [m for m in store.load_messages(conversation_id) if isinstance(m, Message)]
    again = Conversation.from_stored(loaded, id=conversation_id, leaf=summary.leaf)
    assert [m.text for m in again.messages] == ["Name a colour", "Red"]  # the one chosen
    assert [m.id for m in again.alternatives(again.messages[1])] == [red.id, blue.id]
    assert again.messages[0].id == question.id and len(again.tree) == 4
    exported = conversation_export.as_markdown(store, conversation_id)
    assert "Red" in exported and "Blue" not in exported  # the path shown, as it reads

    # A tampered row in the other branch is damaged; the chosen branch still reads.
    raw_execute(store_path, "UPDATE messages SET body = zeroblob(120) WHERE id = ?",
                (blue.id,))
    loaded = store.load_messages(conversation_id)
    assert [type(m).__name__ for m in loaded].count("DamagedMessage") == 1
    readable = [m for m in loaded if isinstance(m, Message)]
    again = Conversation.from_stored(readable, leaf=summary.leaf)
    assert [m.text for m in again.messages] == ["Name a colour", "Red"]


def test_a_store_from_before_branches_opens_as_one_line(store: ConversationStore,
                                                         store_path: Path) -> None:
    # Rows and a summary as the previous version wrote them: no parent, summary format 1.
    from cove.storage import codecs

    conversation_id = store.create_conversation("Old")
    for text in ("q1", "a1", "q2"):
        role = Role.USER if text.startswith("q") else Role.ASSISTANT
        store.append_message(conversation_id, Message(role, text))
    old_head = codecs._SUMMARY_HEAD.pack(1, False, 1.0, 2.0, 3)
    summary = codecs._summary_from_body(conversation_id, old_head + b"Old")
    assert (summary.title, summary.leaf, summary.message_count) == ("Old", "", 3)
    loaded = [m for m in store.load_messages(conversation_id) if isinstance(m, Message)]
    assert all(m.parent == "" for m in loaded)  # rows without a parent
    conversation = Conversation.from_stored(loaded)
    assert [m.text for m in conversation.messages] == ["q1", "a1", "q2"]
