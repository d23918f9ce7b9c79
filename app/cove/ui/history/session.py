"""HistorySession: the GUI's handle on the encrypted store, with slow work kept off its thread.

Opening, unlocking (Argon2id takes about half a second; a keyring can hang), listing, loading
and deleting run on one background worker; the small writes of a chat (append a message,
save a growing reply once a second) run on the GUI thread, as the design allows. The search
index is built after unlocking, changed as messages are saved and searched, all in order on
the index lane, which neither the storage lane nor the GUI thread ever waits for.
"""

from __future__ import annotations

import enum
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from cove.core.conversation import Conversation, Message, MessageState, Role
from cove.core.presets import ConversationSettings
from cove.storage import conversation_export, keys
from cove.storage.crypto import KdfParams
from cove.storage.keys import (
    KEYRING_NOTICE_S,
    LOCKED_PROMPT_TEXT,
    KeyAccessError,
    KeyringWait,
    KeySource,
    WrongPassphrase,
)
from cove.storage.recovery import RecoveryKey
from cove.storage.search import SearchHit, SearchIndex
from cove.storage.store import (
    ConversationStore,
    ConversationSummary,
    DamagedMessage,
    PreferenceDamaged,
    StoreDamaged,
    StoreError,
    set_aside,
)
from cove.ui.tasks import Cancelled, Job, Lane, Task, TaskManager

log = logging.getLogger(__name__)

SYSTEM_PROMPTS = "system_prompts"  # sealed record: {"prompts": {model id: prompt text}}
PAGE = 200  # messages decrypted when a conversation opens; older ones load on scroll
DAMAGED_TEXT = ("This message is damaged: its stored copy was changed or corrupted, so Cove "
                "will not show it. The rest of the conversation is intact.")


class HistoryState(enum.StrEnum):
    OPENING = "opening"
    SETUP = "setup"  # no key yet: choose keyring or passphrase
    LOCKED = "locked"  # a key exists: unlock it
    UNLOCKED = "unlocked"
    DAMAGED = "damaged"  # the file is not a readable Cove history
    KEY_LOST = "key_lost"  # the keyring no longer holds its key: recovery key, new history
    RECOVERED = "recovered"  # opened with the recovery key: choose the new key source
    FAILED = "failed"  # cannot be used at all (e.g. written by a newer Cove)


KEYRING_GAVE_UP_HINT = " You can also choose a passphrase instead."


def key_lost_message(has_recovery_key: bool, error: BaseException) -> str:
    """What the key-lost page says, with or without a recovery key to offer."""
    if has_recovery_key:
        return (f"{error} Without it, Cove cannot open your history. If you kept your recovery "
                "key, type it below. Or start a new history: the old file is kept beside it, "
                "unchanged.")
    return (f"{error} This history has no recovery key, so it cannot be opened. If the item "
            "was only moved (another keyring, another account), put it back and restart Cove. "
            "Or start a new history: the old file is kept beside it, unchanged.")


def storage_error_message(error: BaseException) -> str:
    """Words a person can act on, for any error the store or the disk can raise."""
    if isinstance(error, StoreError | KeyAccessError):
        return str(error)
    if isinstance(error, sqlite3.OperationalError) and "full" in str(error):
        return ("The disk is full, so Cove could not save. Free some space; the conversation "
                "stays on screen meanwhile.")
    if isinstance(error, OSError):
        detail = error.strerror or type(error).__name__
        return f"Cove could not save to disk ({detail}). The conversation stays on screen."
    return f"Saving failed unexpectedly ({type(error).__name__})."


def as_display_message(item: Message | DamagedMessage) -> Message:
    if isinstance(item, DamagedMessage):
        return Message(Role.ASSISTANT, "", state=MessageState.DAMAGED, error=DAMAGED_TEXT,
                       id=item.id or f"damaged{item.seq:08d}")
    if item.state is MessageState.STREAMING:
        item.state = MessageState.INTERRUPTED  # Cove closed while it was being written
    return item


class HistorySession(QObject):
    sig_state = Signal(str, str)
    """New HistoryState and a message to show with it (may be empty)."""
    sig_conversations = Signal(object)
    """The full list of ConversationSummary for the sidebar."""
    sig_summary = Signal(object)
    """One conversation's ConversationSummary changed (or was added)."""
    sig_removed = Signal(str)
    """A conversation (id) was deleted."""
    sig_withdrawn = Signal(str)
    """A conversation (id) whose only messages the model never read is gone again."""
    sig_error = Signal(str)
    """A storage error a person should see; nothing on screen was lost."""
    sig_index_ready = Signal(int)
    """The search index is built; the number of messages in it."""
    sig_system_prompts = Signal()
    """`system_prompts` changed: read after unlocking, saved, or forgotten at lock."""
    sig_keyring_prompt = Signal(str)
    """A keyring call has waited long enough that its unlock prompt is probably open: the
    sentence to show beside a Cancel (``cancel_keyring_wait``). A late answer still lands."""
    sig_recovery_failed = Signal(str)
    """The recovery key typed did not open the history; why, in words."""
    sig_offer_recovery_key = Signal()
    """A new history was just set up by a person: offer to make its recovery key."""
    sig_recovery_key_changed = Signal(bool)
    """Whether the history has a recovery key, after reading, making or removing it."""

    def __init__(self, store_path: Path, parent: QObject | None = None,
                 kdf_params: KdfParams | None = None,
                 keyring_timeout_s: float | None = None,
                 tasks: TaskManager | None = None,
                 keyring_notice_s: float = KEYRING_NOTICE_S) -> None:
        """`tasks`: the app's task manager (its storage lane runs every store call); None
        makes one of its own (tests). `keyring_timeout_s`: None waits for the keyring until
        it answers or the person presses Cancel (what the window does: its unlock prompt may
        take a while); a number gives up after that long. `keyring_notice_s`: how long a
        keyring call takes before the person is told its prompt is probably open."""
        super().__init__(parent)
        self.path = store_path
        self.kdf_params = kdf_params  # None: calibrate Argon2id on this machine
        self.keyring_timeout_s = keyring_timeout_s
        self.keyring_notice_s = keyring_notice_s
        self._keyring_task: Task | None = None
        self.has_recovery_key = False
        self._own_tasks = tasks is None
        self.tasks = tasks if tasks is not None else TaskManager(self)
        self.store: ConversationStore | None = None
        self.index: SearchIndex | None = None
        self.state = HistoryState.OPENING
        self.keyring_offered = False
        self.index_ready = False
        self._index_build: Task | None = None  # reading every message after unlocking
        self._stored_ids: set[str] = set()
        self._unsaved: set[str] = set()  # messages whose first save failed (a full disk)
        self.system_prompts: dict[str, str] = {}  # model id -> default system prompt

    # Opening and keys ----------------------------------------------------------------------

    def open(self) -> None:
        self._set_state(HistoryState.OPENING)
        # Finding the keyring backend can take seconds (D-Bus), so it is asked here too.
        self.tasks.run(lambda: (ConversationStore.open(self.path), _keyring_worth_offering()),
                       self._on_opened, self._on_open_failed)

    def _on_opened(self, opened: tuple[ConversationStore, bool]) -> None:
        store, self.keyring_offered = opened
        self.store = store
        automation = keys.passphrase_from_environment()
        if not store.is_set_up:
            if automation:
                self._run_unlock(lambda: store.setup_with_passphrase(automation, self.kdf_params))
            else:
                self._set_state(HistoryState.SETUP)
        elif store.key_source is KeySource.KEYRING:
            self.unlock_with_keyring()
        elif automation:
            self.unlock_with_passphrase(automation)
        else:
            self._set_state(HistoryState.LOCKED)

    def _on_open_failed(self, error: BaseException) -> None:
        if isinstance(error, StoreDamaged):
            self._set_state(HistoryState.DAMAGED, (
                f"Your history file {error.path} cannot be read ({error}). Cove has not "
                "changed it. You can start a new history; the old file is kept beside it."))
        else:
            self._set_state(HistoryState.FAILED, storage_error_message(error))

    def start_fresh(self) -> None:
        """Move a damaged history file (or one whose key is lost) aside, never deleting it,
        and start a new one."""
        store, self.store = self.store, None

        def move() -> Path:
            if store is not None:
                store.close()
            return set_aside(self.path)

        def moved(kept: Path) -> None:
            log.info("damaged history set aside")
            self.open()
            self.sig_error.emit(f"The old history file was kept as {kept}.")

        self.tasks.run(move, moved, lambda e: self.sig_error.emit(storage_error_message(e)))

    def setup_with_keyring(self) -> None:
        """First setup, or after the recovery key opened the history: the key goes into the
        keyring (waiting for its prompt, with Cancel)."""
        store = self._require_store()
        state = self.state
        recovered = state is HistoryState.RECOVERED

        def failed(error: BaseException) -> None:
            if isinstance(error, keys.NoKeyring | keys.KeyringDroppedSecret):
                self.keyring_offered = False  # it cannot keep a key: no use offering it
                message = ("The system keyring did not keep Cove's key. Choose a passphrase "
                           "instead.")
            else:  # locked, slow or cancelled: worth trying again
                message = _keyring_message(error) + KEYRING_GAVE_UP_HINT
            log.info("keyring setup failed: %s", type(error).__name__)
            self._set_state(state, message)

        def set_up(wait: KeyringWait) -> None:
            if recovered:
                store.switch_to_keyring(wait)
            else:
                store.setup_with_keyring(wait)

        self._run_keyring(set_up, lambda: self._set_up(offer_recovery=not recovered), failed)

    def setup_with_passphrase(self, passphrase: str) -> None:
        store = self._require_store()
        if self.state is HistoryState.RECOVERED:
            self._run_unlock(lambda: store.switch_to_passphrase(passphrase, self.kdf_params))
            return
        self._run_unlock(lambda: store.setup_with_passphrase(passphrase, self.kdf_params),
                         offer_recovery=True)

    def unlock_with_passphrase(self, passphrase: str) -> None:
        store = self._require_store()
        self._run_unlock(lambda: store.unlock_with_passphrase(passphrase))

    def unlock_with_keyring(self) -> None:
        store = self._require_store()

        def failed(error: BaseException) -> None:
            log.info("unlock failed: %s", type(error).__name__)
            if isinstance(error, keys.KeyringSecretMissing | keys.KeyringSecretRejected):
                self.has_recovery_key = store.has_recovery_key()  # one small read
                self._set_state(HistoryState.KEY_LOST,
                                key_lost_message(self.has_recovery_key, error))
            else:
                self._set_state(HistoryState.LOCKED, _keyring_message(error))

        self._run_keyring(store.unlock_with_keyring, self._unlocked, failed)

    def cancel_keyring_wait(self) -> None:
        """Cove's own Cancel: stop waiting for the keyring (a secret written late is removed
        when it lands)."""
        if self._keyring_task is not None:
            self._keyring_task.cancel()

    @property
    def waiting_for_keyring(self) -> bool:
        return self._keyring_task is not None

    def _run_keyring(self, fn: Callable[[KeyringWait], Any], on_done: Callable[[], Any],
                     on_failed: Callable[[BaseException], Any]) -> None:
        """`fn(wait)` on the storage lane, waiting as long as the keyring's prompt is open;
        sig_keyring_prompt once it has probably opened; `cancel_keyring_wait` stops it."""
        def work(job: Job) -> None:
            fn(KeyringWait(limit_s=self.keyring_timeout_s, cancel=job.cancel,
                           notice_after_s=self.keyring_notice_s,
                           on_prompt=lambda: job.progress(LOCKED_PROMPT_TEXT)))

        def finished(task: Task, error: BaseException | None) -> None:
            if self._keyring_task is task:
                self._keyring_task = None
            if error is None:
                on_done()
            else:
                on_failed(keys.KeyringCancelled() if isinstance(error, Cancelled) else error)

        task: Task = self.tasks.start(
            work, lambda _none: finished(task, None), lambda error: finished(task, error),
            on_progress=lambda text, _done, _total: self.sig_keyring_prompt.emit(text),
            lane=Lane.STORAGE)
        self._keyring_task = task

    def _set_up(self, offer_recovery: bool) -> None:
        self._unlocked()
        if offer_recovery:
            self.sig_offer_recovery_key.emit()

    def unlock_with_recovery_key(self, text: str) -> None:
        """Open with the recovery key, then ask for a new key source (RECOVERED)."""
        store = self._require_store()

        def failed(error: BaseException) -> None:
            log.info("recovery failed: %s", type(error).__name__)
            self.sig_recovery_failed.emit(storage_error_message(error))

        self.tasks.run(lambda: store.unlock_with_recovery_key(text),
                       lambda _none: self._set_state(HistoryState.RECOVERED),
                       failed)

    def save_recovery_key(self, key: RecoveryKey, done: Callable[[], None],
                          failed: Callable[[str], None]) -> None:
        """Keep `key` as the recovery key (an older one stops working)."""
        store = self._require_store()

        def saved(_none: None) -> None:
            self._recovery_key_known(True)
            done()

        self.tasks.run(lambda: store.set_recovery_key(key), saved,
                       lambda e: failed(storage_error_message(e)))

    def remove_recovery_key(self, done: Callable[[], None],
                            failed: Callable[[str], None]) -> None:
        store = self._require_store()

        def removed(_none: None) -> None:
            self._recovery_key_known(False)
            done()

        self.tasks.run(store.remove_recovery_key, removed,
                       lambda e: failed(storage_error_message(e)))

    def _recovery_key_known(self, present: bool) -> None:
        self.has_recovery_key = present
        self.sig_recovery_key_changed.emit(present)

    def _run_unlock(self, fn: Callable[[], Any], offer_recovery: bool = False) -> None:
        def failed(error: BaseException) -> None:
            if isinstance(error, WrongPassphrase):
                message = "That passphrase is not right. Try again."
            else:
                message = storage_error_message(error)
            log.info("unlock failed: %s", type(error).__name__)
            self._set_state(self.state if self.state in (HistoryState.SETUP,
                                                         HistoryState.RECOVERED)
                            else HistoryState.LOCKED, message)

        self.tasks.run(fn, lambda _none: self._set_up(offer_recovery), failed)

    def _unlocked(self) -> None:
        store = self._require_store()
        self.tasks.run(store.list_conversations, self._on_listed,
                       lambda e: self._set_state(HistoryState.FAILED,
                                                 storage_error_message(e)))
        index = SearchIndex()
        self.index = index  # new messages join it after the build; search waits for it
        self.index_ready = False

        def messages(job: Job) -> Iterator[tuple[str, str, str]]:
            for cid, message in store.iter_all_messages():
                job.check()  # a lock stops the build at once
                if isinstance(message, Message) and message.text:
                    yield cid, message.id, message.text

        def build(job: Job) -> int:
            index.add_many(messages(job))
            return len(index)

        def built(count: int) -> None:
            if self.index is index:
                self.index_ready = True
                self.sig_index_ready.emit(count)

        def failed(error: BaseException) -> None:
            if self.index is index and not isinstance(error, Cancelled):
                log.error("search index failed: %s", type(error).__name__)

        # On the index lane: reading and decrypting every message takes seconds with a large
        # history, and opening and saving must not wait for it on the storage lane
        # (iter_all_messages takes the store's lock a batch at a time).
        self._index_build = self.tasks.start(build, built, failed, lane=Lane.INDEX)
        self.tasks.run(lambda: store.load_preference(SYSTEM_PROMPTS), self._on_prompts,
                       self._on_prompts_failed)
        self.tasks.run(store.has_recovery_key, self._recovery_key_known,
                       lambda e: log.error("recovery key not read: %s", type(e).__name__))

    def _on_prompts(self, record: dict[str, Any] | None) -> None:
        prompts = (record or {}).get("prompts")
        if not isinstance(prompts, dict) or not self.store or not self.store.is_unlocked:
            prompts = {}
        self.system_prompts = {str(model): text for model, text in prompts.items()
                               if isinstance(text, str) and text.strip()}
        self.sig_system_prompts.emit()

    def _on_prompts_failed(self, error: BaseException) -> None:
        if isinstance(error, PreferenceDamaged):
            self.sig_error.emit("Your saved system prompts are damaged and could not be read. "
                                "Models answer without one until you set new ones in Settings.")
        else:
            log.error("system prompts not read: %s", type(error).__name__)

    def _on_listed(self, summaries: list[ConversationSummary]) -> None:
        """Unlocked means: the key is in memory and the sidebar has its list."""
        self._stored_ids = {summary.id for summary in summaries}
        self.sig_conversations.emit(summaries)
        self._set_state(HistoryState.UNLOCKED)

    def lock(self) -> None:
        if self.store is not None and self.state is HistoryState.UNLOCKED:
            if self._index_build is not None:
                self._index_build.cancel()  # it holds decrypted text: it stops at once
                self._index_build = None
            self.store.lock()
            self.index = None
            self.index_ready = False
            self._stored_ids.clear()
            self.system_prompts = {}
            self.sig_system_prompts.emit()
            self._set_state(HistoryState.LOCKED)

    @property
    def unlocked(self) -> bool:
        return self.state is HistoryState.UNLOCKED

    # Conversations ---------------------------------------------------------------------

    def load_conversation(self, summary: ConversationSummary, everything: bool,
                          done: Callable[[Conversation, int], None]) -> None:
        """Decrypt the newest PAGE messages (or all) in the background; done(conv, offset)."""
        store = self._require_store()

        def load() -> tuple[Conversation, int]:
            count = store.message_count(summary.id)
            offset = 0 if everything else max(0, count - PAGE)
            messages = [as_display_message(m) for m in store.load_messages(summary.id, offset)]
            # The branch chosen is read here, after any choice still being saved on this
            # lane, not from the sidebar's copy of the summary.
            current = store.conversation_summary(summary.id)
            return Conversation.from_stored(
                messages, title=summary.title, id=summary.id, leaf=current.leaf,
                settings=ConversationSettings.from_json(current.settings)), offset

        self.tasks.run(load, lambda result: done(*result),
                       lambda e: self.sig_error.emit(storage_error_message(e)))

    def load_earlier(self, conversation_id: str, before: int,
                     done: Callable[[list[Message], int], None]) -> None:
        store = self._require_store()
        start = max(0, before - PAGE)

        def load() -> list[Message]:
            return [as_display_message(m)
                    for m in store.load_messages(conversation_id, start, before - start)]

        self.tasks.run(load, lambda messages: done(messages, start),
                       lambda e: self.sig_error.emit(storage_error_message(e)))

    def record_added(self, conversation: Conversation, message: Message) -> None:
        """Save a new message now (GUI thread: one small fsynced write)."""
        if not self.unlocked or self.store is None:
            return
        try:
            if conversation.id not in self._stored_ids:
                self.store.create_conversation(conversation_id=conversation.id)
                self._stored_ids.add(conversation.id)
                if conversation.settings.to_json():  # a preset chosen before the first word
                    self.store.set_conversation_settings(conversation.id,
                                                         conversation.settings.to_json())
            self._unsaved.add(message.id)
            self.store.append_message(conversation.id, message)
            self._unsaved.discard(message.id)
            self._index_message(conversation.id, message)
            self.sig_summary.emit(self.store.conversation_summary(conversation.id))
        except Exception as error:  # a full disk must not take the window down
            log.error("saving a message failed: %s", type(error).__name__)
            self.sig_error.emit(storage_error_message(error))

    def record_changed(self, conversation: Conversation, message: Message) -> None:
        """Save the current text of a message being written (or just finished)."""
        if not self.unlocked or self.store is None or conversation.id not in self._stored_ids:
            return
        try:
            if message.id in self._unsaved:  # its first save failed: try that again
                self.store.append_message(conversation.id, message)
                self._unsaved.discard(message.id)
            else:
                self.store.update_message(message)
            # How much, never what: crash tests wait for this line (--debug).
            log.debug("reply saved: %d characters", len(message.text))
            if message.state is MessageState.DELETED:
                self._change_index(lambda index: index.remove(message.id))
                store = self.store
                # The old text's pages leave the write-ahead log too (zeroed in the file);
                # once the window has closed, SQLite does so as the store's file closes.
                if not self.tasks.closed:
                    self.tasks.run(store.forget_freed, lambda _none: None,
                                   lambda e: self.sig_error.emit(storage_error_message(e)))
            else:
                self._index_message(conversation.id, message)
        except Exception as error:
            log.error("saving a reply failed: %s", type(error).__name__)
            self.sig_error.emit(storage_error_message(error))

    def rename(self, conversation_id: str, title: str) -> None:
        self._small_write(conversation_id,
                          lambda store: store.rename_conversation(conversation_id, title))

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        self._small_write(conversation_id,
                          lambda store: store.set_pinned(conversation_id, pinned))

    def _small_write(self, conversation_id: str,
                     change: Callable[[ConversationStore], None]) -> None:
        store = self._require_store()
        try:
            change(store)
            self.sig_summary.emit(store.conversation_summary(conversation_id))
        except Exception as error:
            self.sig_error.emit(storage_error_message(error))

    def record_settings(self, conversation: Conversation) -> None:
        """Keep a conversation's own settings (saved with it; a new chat's at its first
        message)."""
        if not self.unlocked or self.store is None or conversation.id not in self._stored_ids:
            return
        text = conversation.settings.to_json()
        self._small_write(conversation.id,
                          lambda store: store.set_conversation_settings(conversation.id, text))

    def record_branch(self, conversation: Conversation) -> None:
        """Remember which branch of the conversation is shown (its last message)."""
        if not self.unlocked or self.store is None or conversation.id not in self._stored_ids:
            return
        store, leaf = self.store, conversation.leaf

        def save() -> ConversationSummary:
            store.set_leaf(conversation.id, leaf)
            return store.conversation_summary(conversation.id)

        self.tasks.run(save, self.sig_summary.emit,
                       lambda e: self.sig_error.emit(storage_error_message(e)))

    def withdraw(self, conversation: Conversation, messages: list[Message]) -> None:
        """Forget a conversation's newest messages that the model never read (a message
        refused as too long and its empty reply); a conversation left empty goes too."""
        if not self.unlocked or self.store is None or conversation.id not in self._stored_ids:
            return
        store = self.store
        ids = [message.id for message in messages if message.id not in self._unsaved]
        for message in messages:
            self._unsaved.discard(message.id)

        def forget(index: SearchIndex) -> None:
            for message in messages:
                index.remove(message.id)

        self._change_index(forget)
        if not ids:
            return

        def withdraw() -> tuple[str, bool]:
            return conversation.id, store.withdraw_last_messages(conversation.id, ids)

        def done(result: tuple[str, bool]) -> None:
            conversation_id, emptied = result
            if emptied:
                self._stored_ids.discard(conversation_id)
                self.sig_withdrawn.emit(conversation_id)
            else:
                self.sig_summary.emit(store.conversation_summary(conversation_id))

        self.tasks.run(withdraw, done, lambda e: self.sig_error.emit(storage_error_message(e)))

    def delete(self, conversation_id: str) -> None:
        store = self._require_store()
        self._change_index(lambda index: index.remove_conversation(conversation_id))
        self._stored_ids.discard(conversation_id)

        def delete() -> str:
            store.delete_conversation(conversation_id)
            return conversation_id

        self.tasks.run(delete, self.sig_removed.emit,
                       lambda e: self.sig_error.emit(storage_error_message(e)))

    def export_markdown(self, conversation_id: str, target: Path,
                        done: Callable[[Path], None]) -> None:
        store = self._require_store()

        def export() -> Path:
            text = conversation_export.as_markdown(store, conversation_id)
            # Readable by this user only, like everything else Cove writes; the person may
            # widen it. An existing file keeps its own permissions.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return target

        self.tasks.run(export, done, lambda e: self.sig_error.emit(
            f"Export failed: {storage_error_message(e)}"))

    def search(self, query: str, done: Callable[[list[SearchHit]], None]) -> None:
        index = self.index
        if index is None or not self.index_ready:
            done([])
            return
        self.tasks.run(lambda: index.search(query), done,
                       lambda e: log.error("search failed: %s", type(e).__name__),
                       lane=Lane.INDEX)  # after the changes asked for before it

    def _change_index(self, change: Callable[[SearchIndex], object]) -> None:
        """Apply `change` to the search index on the index lane, after its build and every
        change asked for before: the build holds the index for seconds with a large history
        (10 s for 200,000 messages on the slower project machine), and the GUI thread, which
        records each message, must never wait for it. Once the window has closed (the task
        manager shut down) there is no lane, and the index, in memory only, is not updated."""
        index = self.index
        if index is not None and not self.tasks.closed:
            self.tasks.run(lambda: change(index), None,
                           lambda e: log.error("search index update failed: %s",
                                               type(e).__name__), lane=Lane.INDEX)

    def _index_message(self, conversation_id: str, message: Message) -> None:
        text = message.text  # as it is now: a reply's text grows while it is written
        if text:
            self._change_index(lambda index: index.add(conversation_id, message.id, text))

    def is_stored(self, conversation_id: str) -> bool:
        return conversation_id in self._stored_ids

    # Settings --------------------------------------------------------------------------

    def save_system_prompts(self, prompts: dict[str, str]) -> None:
        """Keep each model's default system prompt (empty ones dropped), sealed in the store."""
        store = self._require_store()
        kept = {model: text for model, text in prompts.items() if text.strip()}
        if kept == self.system_prompts:
            return
        self.system_prompts = kept
        self.sig_system_prompts.emit()
        self.tasks.run(lambda: store.save_preference(SYSTEM_PROMPTS, {"prompts": kept}),
                       None, lambda e: self.sig_error.emit(
                           "Your system prompts could not be saved: "
                           + storage_error_message(e)))

    def change_passphrase(self, old: str, new: str, done: Callable[[], None],
                          failed: Callable[[str], None]) -> None:
        store = self._require_store()
        self.tasks.run(lambda: store.change_passphrase(old, new, self.kdf_params),
                       lambda _none: done(),
                       lambda e: failed("The current passphrase is not right."
                                        if isinstance(e, WrongPassphrase)
                                        else storage_error_message(e)))

    def switch_key_source(self, source: KeySource, passphrase: str, done: Callable[[], None],
                          failed: Callable[[str], None]) -> None:
        store = self._require_store()
        if source is KeySource.KEYRING:
            self._run_keyring(store.switch_to_keyring, done, lambda e: failed(
                _keyring_message(e) + ("" if isinstance(e, keys.KeyringCancelled)
                                       else " Nothing was changed.")))
            return
        self.tasks.run(lambda: store.switch_to_passphrase(passphrase, self.kdf_params),
                       lambda _none: done(), lambda e: failed(storage_error_message(e)))

    def reload(self) -> None:
        """Read the list, the search index and the records again (after an import)."""
        if self.unlocked:
            self._unlocked()

    def replace_file(self, replace: Callable[[Job, Callable[[], None]], Any],
                     done: Callable[[Any], None], failed: Callable[[BaseException], None],
                     on_progress: Callable[[str, int | None, int | None], Any] | None = None
                     ) -> None:
        """Lock, then run replace(job, close) on the storage lane, where `close` closes the
        store just before its file is swapped (a restore); then open it again the usual way.
        A replace that fails before closing leaves the store open (and locked)."""
        self.lock()
        store = self.store
        closed: list[bool] = []

        def close() -> None:
            if store is not None:
                store.close()
            closed.append(True)

        def reopen() -> None:
            if closed:
                self.store = None
                self.open()

        def finished(result: Any) -> None:
            reopen()
            done(result)

        def broke(error: BaseException) -> None:
            reopen()
            failed(error)

        self.tasks.start(lambda job: replace(job, close), finished, broke,
                         on_progress=on_progress, lane=Lane.STORAGE)

    def close(self) -> None:
        """Finish the writes already queued, then close the file."""
        self.cancel_keyring_wait()  # a prompt nobody answers must not hold the window open
        if self._own_tasks:
            self.tasks.shutdown(wait=True)
        else:
            self.tasks.wait_idle(Lane.STORAGE)
        if self.store is not None:
            self.store.close()
            self.store = None

    def _require_store(self) -> ConversationStore:
        if self.store is None:
            raise StoreError("The history is not open.")
        return self.store

    def _set_state(self, state: HistoryState, message: str = "") -> None:
        self.state = state
        self.sig_state.emit(state.value, message)


def _keyring_message(error: BaseException) -> str:
    """The keyring's outcome in words (each of keys' errors carries its own sentence)."""
    if isinstance(error, keys.KeyringDroppedSecret | keys.NoKeyring):
        return "The system keyring did not keep the key."
    return storage_error_message(error)


def _keyring_worth_offering() -> bool:
    try:
        return keys.call_with_timeout(keys.keyring_is_usable, 3.0)
    except Exception:
        return False
