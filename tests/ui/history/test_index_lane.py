"""The chat history's search index is built on the index lane after unlocking: a long build
holds up neither opening a conversation nor saving, and a lock stops it."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest
from pytestqt.qtbot import QtBot

from cove.storage.search import SearchIndex
from cove.ui.history.session import HistoryState
from tests.apphelpers import PASSPHRASE, Opened, Opener, chat, set_up_with_passphrase

BUILD_THREAD = threading.Event()  # set while a background thread is held in the build


def relock(qtbot: QtBot, app: Opened) -> None:
    """Lock, then unlock with the passphrase: the index is built again."""
    with qtbot.waitSignal(app.session.sig_state, timeout=5_000,
                          check_params_cb=lambda state, _m: state == HistoryState.LOCKED):
        app.session.lock()
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda state, _m: state == HistoryState.UNLOCKED):
        app.session.unlock_with_passphrase(PASSPHRASE)


def test_a_long_index_build_holds_up_neither_opening_nor_chatting(
        qtbot: QtBot, open_app: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "Tell me about narwhals")
    app.window.new_action.trigger()
    chat(qtbot, app, "Something else entirely")
    qtbot.waitUntil(lambda: app.session.index_ready, timeout=5_000)

    release = threading.Event()
    threads: list[str] = []
    add_many = SearchIndex.add_many

    def held(self: SearchIndex, items: Iterable[tuple[str, str, str]]) -> None:
        if threading.current_thread() is not threading.main_thread():  # the build
            threads.append(threading.current_thread().name)
            BUILD_THREAD.set()
            release.wait(20)
        add_many(self, items)

    monkeypatch.setattr(SearchIndex, "add_many", held)
    try:
        relock(qtbot, app)
        qtbot.waitUntil(BUILD_THREAD.is_set, timeout=5_000)
        assert not app.session.index_ready
        summary = next(s for s in (app.window.sidebar.model.summary(row) for row in range(2))
                       if s.title == "Tell me about narwhals")
        with qtbot.waitSignal(app.window.controller.sig_conversation_changed, timeout=5_000):
            app.presenter.open_conversation(summary)
        chat(qtbot, app, "And their tusks?")  # saved on the storage lane meanwhile
    finally:
        release.set()
        BUILD_THREAD.clear()
    qtbot.waitUntil(lambda: app.session.index_ready, timeout=10_000)
    assert threads and all(name.startswith("cove-index") for name in threads), threads
    found: list[object] = []
    app.session.search("tusks", found.extend)
    qtbot.waitUntil(lambda: len(found) == 1, timeout=5_000)


def test_locking_stops_the_index_build(qtbot: QtBot, open_app: Opener,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    for n in range(3):
        app.window.new_action.trigger()
        chat(qtbot, app, f"Question number {n}")
    seen: list[str] = []
    add_many = SearchIndex.add_many
    release = threading.Event()

    def slow(self: SearchIndex, items: Iterable[tuple[str, str, str]]) -> None:
        if threading.current_thread() is threading.main_thread():
            add_many(self, items)
            return

        def watched() -> Iterable[tuple[str, str, str]]:
            for item in items:
                seen.append(item[1])
                release.wait(0.5 if len(seen) > 1 else 20)
                yield item

        add_many(self, watched())

    monkeypatch.setattr(SearchIndex, "add_many", slow)
    relock(qtbot, app)
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    app.session.lock()
    release.set()
    qtbot.waitUntil(lambda: not app.session.tasks.busy(), timeout=10_000)
    assert len(seen) < 6  # three questions and three replies: the build stopped early
    assert app.session.index is None and not app.session.index_ready


def test_a_message_recorded_after_the_task_manager_shut_down_is_saved_without_an_error(
        qtbot: QtBot, open_app: Opener) -> None:
    """The index lane is gone with the task manager; the search index, in memory only, then
    misses the message, but the save must not be reported as failed."""
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "Tell me about narwhals")
    qtbot.waitUntil(lambda: not app.session.tasks.busy(), timeout=10_000)
    errors: list[str] = []
    app.session.sig_error.connect(errors.append)
    app.session.tasks.shutdown()
    chat(qtbot, app, "And their tusks?")
    assert errors == []
    store = app.session.store
    assert store is not None
    conversation_id = app.window.sidebar.model.summary(0).id
    texts = [message.text for message in store.load_messages(conversation_id)]
    assert "And their tusks?" in texts and len(texts) == 4
