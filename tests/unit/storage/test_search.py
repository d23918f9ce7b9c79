"""The in-memory search index: matching, snippets with highlight offsets, removal, speed."""

from __future__ import annotations

import random
import time
from pathlib import Path

from cove.core.conversation import Message, Role
from cove.storage.search import CHUNK_SIZE, SearchHit, SearchIndex, fold
from cove.storage.store import ConversationStore
from tests.unit.storage import MemoryKeyring, using_keyring


def highlighted(hit: SearchHit) -> list[str]:
    return [hit.snippet[start:end] for start, end in hit.matches]


def test_finds_words_case_insensitively_and_highlights_them() -> None:
    index = SearchIndex()
    index.add("c1", "m1", "The Lighthouse keeper\nlit the lamp.")
    index.add("c1", "m2", "Nothing to see here.")
    (hit,) = index.search("lighthouse")
    assert (hit.conversation_id, hit.message_id) == ("c1", "m1")
    assert hit.snippet == "The Lighthouse keeper lit the lamp."
    assert highlighted(hit) == ["Lighthouse"]
    assert index.search("LAMP")[0].message_id == "m1"
    assert index.search("absent") == []
    assert index.search("   ") == []


def test_every_query_word_must_match_and_each_is_highlighted() -> None:
    index = SearchIndex()
    index.add("c1", "m1", "red apples and green pears")
    index.add("c1", "m2", "red cars")
    assert [h.message_id for h in index.search("red")] == ["m2", "m1"]
    (hit,) = index.search("pears RED")
    assert hit.message_id == "m1"
    assert highlighted(hit) == ["red", "pears"]


def test_long_texts_give_a_short_snippet_around_the_match() -> None:
    index = SearchIndex()
    text = "lorem ipsum " * 100 + "the needle sits here " + "dolor sit " * 100
    index.add("c1", "m1", text)
    (hit,) = index.search("needle", context=30)
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 100
    assert highlighted(hit) == ["needle"]


def test_case_folding_keeps_offsets_even_where_lowercase_is_longer() -> None:
    assert len(fold("İstanbul ẞ")) == len("İstanbul ẞ")
    index = SearchIndex()
    index.add("c1", "m1", "İİİ trip to Ünïcödé city 🌊 waves")
    index.add("c1", "m2", "plain ascii waves")
    hits = index.search("ünïcödé")
    assert [highlighted(h) for h in hits] == [["Ünïcödé"]]
    assert [highlighted(h) for h in index.search("WAVES")] == [["waves"], ["waves"]]


def test_text_with_nul_and_separators_does_not_match_across_messages() -> None:
    index = SearchIndex()
    index.add("c1", "m1", "ends with foo")
    index.add("c1", "m2", "bar starts this\x00one")
    assert index.search("foo bar") == []
    assert index.search("foo\x00bar") == []
    assert [h.message_id for h in index.search("this one")] == ["m2"]
    assert highlighted(index.search("one")[0]) == ["one"]


def test_removing_messages_and_conversations_and_replacing_text() -> None:
    index = SearchIndex()
    index.add("c1", "m1", "alpha beta")
    index.add("c1", "m2", "alpha gamma")
    index.add("c2", "m3", "alpha delta")
    index.remove("m1")
    assert {h.message_id for h in index.search("alpha")} == {"m2", "m3"}
    index.remove_conversation("c1")
    assert [h.message_id for h in index.search("alpha")] == ["m3"]
    index.add("c2", "m3", "omega now")  # a streamed reply re-added with its final text
    assert index.search("alpha") == []
    assert [h.message_id for h in index.search("omega")] == ["m3"]
    assert len(index) == 1
    index.remove("never added")


def test_hits_come_newest_first_up_to_the_limit_across_chunks() -> None:
    index = SearchIndex()
    for n in range(CHUNK_SIZE * 3):
        # Alternate plain and emoji text so messages land in chunks of different widths.
        index.add(f"c{n // 10}", f"m{n}", f"note {n} common" + (" 🌊" if n % 2 else ""))
    hits = index.search("common", limit=25)
    assert [h.message_id for h in hits] == [f"m{n}" for n in range(CHUNK_SIZE * 3 - 1,
                                                                    CHUNK_SIZE * 3 - 26, -1)]
    for n in range(0, CHUNK_SIZE * 2):
        index.remove(f"m{n}")  # whole chunks become mostly dead and are compacted
    assert len(index) == CHUNK_SIZE
    assert len(index.search("common", limit=10_000)) == CHUNK_SIZE
    assert all(int(h.message_id[1:]) >= CHUNK_SIZE * 2
               for h in index.search("note", limit=10_000))


def test_the_index_builds_from_the_store(tmp_path: Path) -> None:
    with using_keyring(MemoryKeyring()), ConversationStore.open(tmp_path / "cove.db") as store:
        store.setup_with_keyring()
        conversation = store.create_conversation()
        message_id = store.append_message(conversation, Message(Role.USER, "Where is Ribeira?"))
        index = SearchIndex()
        index.add_many((cid, m.id, m.text) for cid, m in store.iter_all_messages()
                       if isinstance(m, Message))
    assert [(h.conversation_id, h.message_id) for h in index.search("ribeira")] == [
        (conversation, message_id)]


def test_a_word_search_over_200k_messages_takes_under_200_ms() -> None:
    rng = random.Random(7)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9)))
             for _ in range(3000)]
    bodies = [" ".join(rng.choices(words, k=45)) for _ in range(2000)]
    index = SearchIndex()
    index.add_many(
        (f"{n // 20:016x}", f"{n:016x}",
         bodies[n % len(bodies)] + (" lighthouse" if n % 5003 == 0 else "") + f" #{n}")
        for n in range(200_000))
    assert len(index) == 200_000
    timings = {}
    for query in ("lighthouse", "zzzznotthere", words[0]):
        started = time.perf_counter()
        hits = index.search(query)
        timings[query] = time.perf_counter() - started
        assert hits or query == "zzzznotthere"
    assert len(index.search("lighthouse")) == 40
    assert max(timings.values()) < 0.2, timings
