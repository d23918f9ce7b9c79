"""Importers on realistic export files (tests/fixtures/import), into a real encrypted store,
and every malformed case giving a sentence that names the format and the place."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from cove.core.conversation import ROOT, Conversation, Message, Role
from cove.inference.engine import Engine, GenerationParams
from cove.storage import conversation_export
from cove.storage.crypto import KdfParams
from cove.storage.importers import MAX_BYTES, ImportFailed, import_file, read_export
from cove.storage.store import ConversationStore, ImportedConversation, default_store_path
from tests.unit.storage.test_canary import encoded, files_holding, log_file  # noqa: F401

FIXTURES = Path(__file__).parents[2] / "fixtures" / "import"
CHATGPT = FIXTURES / "chatgpt-conversations.json"
OPENWEBUI = FIXTURES / "openwebui-chat-export.json"
CHATGPT_BRANCHES = FIXTURES / "chatgpt-branches.json"


def unlocked_store() -> ConversationStore:
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    store = ConversationStore.open(path)
    store.setup_with_passphrase("import passphrase", KdfParams.at_floor())
    return store


def shown(conversation: ImportedConversation) -> list[str]:
    """The texts of the branch Cove shows for an imported conversation."""
    return [m.text for m in Conversation.from_stored(list(conversation.messages),
                                                     leaf=conversation.leaf).messages]


def test_chatgpt_keeps_every_branch_shows_the_current_one_and_counts_what_it_skips() -> None:
    result = read_export("chatgpt", CHATGPT)
    first, second = result.conversations
    assert first.title == "Sourdough starter while travelling"
    assert first.created == pytest.approx(1712150400.123)
    assert [(m.role, m.model) for m in first.messages] == [
        (Role.USER, ""), (Role.ASSISTANT, "gpt-4"), (Role.ASSISTANT, "gpt-4o"), (Role.USER, ""),
        (Role.ASSISTANT, "gpt-4o")]
    question, first_answer, regenerated = first.messages[:3]
    assert question.parent == ROOT  # the hidden system and context nodes are left out
    assert first_answer.parent == regenerated.parent == question.id
    assert first_answer.text.startswith("Feed it, then refrigerate.")  # the older branch, kept
    assert shown(first)[1].startswith("Give it a thick feeding")  # current_node's branch
    assert shown(first)[2] == "This is what it looks like now. Too runny?"
    assert first.messages[3].created == pytest.approx(1712150500.0)
    assert first.messages[4].parent == first.messages[3].id  # past the tool call and output
    assert second.messages[1].model == "text-davinci-002-render-sha"
    assert dict(result.skipped) == {"image": 1, "attachment": 1, "tool call": 1,
                                    "tool output": 1}
    summary = result.summary()
    assert "Imported 2 conversations (7 messages, 1 of them on other branches)" in summary
    assert "1 image" in summary and "still on disk in plaintext" in summary


def test_chatgpt_branches_reach_the_store_with_the_branch_shown_last(cove_home: Path) -> None:
    """An edited message and a regenerated reply: both branches stored, and the one ChatGPT
    showed last (neither the newest edit nor the newest reply) shown when Cove loads it."""
    with unlocked_store() as store:
        result = import_file(store, "chatgpt", CHATGPT_BRANCHES)
        (conversation_id,) = result.ids
        summary = store.conversation_summary(conversation_id)
        loaded = [m for m in store.load_messages(conversation_id) if isinstance(m, Message)]
    assert summary.title == "Rivers" and summary.message_count == 7
    conversation = Conversation.from_stored(loaded, leaf=summary.leaf)
    assert [m.text for m in conversation.messages] == [
        "Name three rivers in Wales.", "The Severn, the Wye and the Teifi.",
        "Which is the longest?", "The Severn, at about 354 km."]
    assert {m.text for m in conversation.tree} == {
        "Name three rivers in Wales.", "The Severn, the Wye and the Teifi.",
        "Which is the longest?", "The Severn, at about 354 km.",
        "The Severn: it is the longest river in Britain.", "Name three rivers in Scotland.",
        "The Tay, the Spey and the Clyde."}
    first, _, _, reply = conversation.messages
    assert [m.text for m in conversation.alternatives(first)] == [
        "Name three rivers in Wales.", "Name three rivers in Scotland."]
    assert [m.text for m in conversation.alternatives(reply)] == [
        "The Severn, at about 354 km.", "The Severn: it is the longest river in Britain."]
    conversation.choose(conversation.alternatives(first)[1])  # the edit's own branch
    assert [(m.text, m.model) for m in conversation.messages] == [
        ("Name three rivers in Scotland.", ""), ("The Tay, the Spey and the Clyde.",
                                                 "gpt-4o-mini")]
    assert "(7 messages, 3 of them on other branches)" in result.summary()


def test_open_webui_keeps_the_history_tree_and_shows_current_id() -> None:
    result = read_export("openwebui", OPENWEBUI)
    haiku, empty = result.conversations
    assert haiku.title == "Tide haiku" and haiku.created == 1718000000
    assert [m.model for m in haiku.messages] == [
        "", "llama3.1:8b", "", "llama3.1:8b", "qwen2.5:7b"]
    assert shown(haiku)[3].startswith("Fog folds the harbour")
    grey, fog = haiku.messages[3:]
    assert grey.text == "Grey wool on the hill" and grey.parent == fog.parent
    assert empty.messages == [] and empty.title == "New Chat" and empty.leaf == ""
    assert dict(result.skipped) == {"image": 1, "attachment": 1}


def test_open_webui_shows_an_older_branch_when_current_id_names_it(tmp_path: Path) -> None:
    data = json.loads(OPENWEBUI.read_text())
    data[0]["chat"]["history"]["currentId"] = "e6f4"
    (haiku, _) = read_export("openwebui", write(tmp_path, json.dumps(data))).conversations
    assert shown(haiku)[-1] == "Grey wool on the hill" and len(haiku.messages) == 5


@pytest.mark.parametrize("fmt, fixture, needle", [
    ("chatgpt", "chatgpt-conversations.json", "Too runny?"),
    ("openwebui", "openwebui-chat-export.json", "Another, about fog."),
    ("jan", "jan", "And this route?"),
    ("lmstudio", "lmstudio", "Here's my crumb."),
])
def test_imported_text_reaches_the_store_encrypted_and_nowhere_else(
        tmp_path: Path, cove_home: Path, log_file: Path,  # noqa: F811
        fmt: str, fixture: str, needle: str) -> None:
    canary = f"canary-{secrets.token_hex(6)}-Ünïcödé"
    source = tmp_path / "export"  # outside COVE_HOME: the person's own plaintext file
    if (FIXTURES / fixture).is_dir():
        shutil.copytree(FIXTURES / fixture, source)
    else:
        source.mkdir()
        shutil.copy(FIXTURES / fixture, source / fixture)
    for file in (p for p in source.rglob("*") if p.is_file()):
        file.write_text(file.read_text(encoding="utf-8").replace(needle, canary),
                        encoding="utf-8")
    target = source if (FIXTURES / fixture).is_dir() else source / fixture
    with unlocked_store() as store:
        result = import_file(store, fmt, target)
        texts = [m.text for cid in result.ids for m in store.load_messages(cid)
                 if isinstance(m, Message)]
        assert any(canary in text for text in texts)
    assert files_holding(cove_home, encoded(canary)) == []
    assert files_holding(source, encoded(canary))  # Cove never deletes the person's file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conversations.json"
    path.write_text(text, encoding="utf-8")
    return path


def failure(fmt: str, path: Path) -> str:
    with pytest.raises(ImportFailed) as raised:
        read_export(fmt, path)
    return str(raised.value)


def test_truncated_json_names_the_line(tmp_path: Path) -> None:
    text = CHATGPT.read_text()
    message = failure("chatgpt", write(tmp_path, text[: len(text) // 2]))
    assert message.startswith("ChatGPT export (conversations.json, line ")
    assert "cut short or malformed" in message and "Nothing was imported." in message


def test_the_wrong_format_says_so(tmp_path: Path) -> None:
    message = failure("chatgpt", OPENWEBUI)
    assert "ChatGPT export" in message and "conversation 1" in message and "'mapping'" in message
    message = failure("openwebui", CHATGPT)
    assert "Open WebUI export" in message and "'chat'" in message
    assert "right kind of file" in failure("chatgpt", write(tmp_path, '"just text"'))
    assert "cannot import 'signal'" in failure("signal", CHATGPT)
    assert "no thread.json here" in failure("jan", CHATGPT)
    assert "the whole file should be a JSON object but is a JSON list" in failure(
        "lmstudio", CHATGPT)


def test_a_missing_field_names_it_and_the_conversation(tmp_path: Path) -> None:
    data = json.loads(CHATGPT.read_text())
    del data[1]["current_node"]
    message = failure("chatgpt", write(tmp_path, json.dumps(data)))
    assert "conversation 2" in message and "'current_node'" in message and "missing" in message


def test_a_cycle_in_the_tree_is_an_error_not_a_hang(tmp_path: Path) -> None:
    data = json.loads(CHATGPT.read_text())
    data[1]["mapping"]["aaa2-root"]["parent"] = "aaa2-2"
    message = failure("chatgpt", write(tmp_path, json.dumps(data)))
    assert "conversation 2" in message and "loops back on itself" in message
    data = json.loads(OPENWEBUI.read_text())
    data[0]["chat"]["history"]["messages"]["b3a1"]["parentId"] = "f7a5"
    assert "loops back" in failure("openwebui", write(tmp_path, json.dumps(data)))


def test_a_parent_that_is_not_there_is_named(tmp_path: Path) -> None:
    data = json.loads(CHATGPT.read_text())
    data[1]["current_node"] = "gone"
    assert "'gone' that is not in the file" in failure("chatgpt", write(tmp_path, json.dumps(data)))


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: 200 MB on paper, nothing read
    message = failure("chatgpt", path)
    assert "more than the" in message and "Export fewer conversations" in message


def test_not_text_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "photo.json"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    assert "not text" in failure("openwebui", path)
    assert "no such file" in failure("chatgpt", tmp_path / "nothing.json")
    shutil.copy(CHATGPT, tmp_path / "ok.json")
    assert read_export("chatgpt", tmp_path / "ok.json").conversations


JAN = FIXTURES / "jan" / "threads"
LMSTUDIO = FIXTURES / "lmstudio"


def test_jan_reads_the_threads_folder_a_line_at_a_time() -> None:
    for path in (JAN, JAN / "jan_1733000000", JAN / "jan_1733000000" / "thread.json"):
        result = read_export("jan", path)
        (thread,) = result.conversations
        assert thread.title == "Packing for Snowdonia" and thread.created == 1733000000
        assert [(m.role, m.model) for m in thread.messages] == [
            (Role.USER, ""), (Role.ASSISTANT, "llama3.2-3b-instruct"), (Role.USER, "")]
        assert thread.messages[1].created == 1733000020.0  # milliseconds, read as such
        assert dict(result.skipped) == {"image": 1, "attachment": 1}


def test_jan_names_the_broken_line(tmp_path: Path) -> None:
    folder = tmp_path / "jan_1"
    shutil.copytree(JAN / "jan_1733000000", folder)
    lines = (folder / "messages.jsonl").read_text().splitlines()
    (folder / "messages.jsonl").write_text("\n".join([lines[0], lines[1][:40], lines[2]]))
    message = failure("jan", folder)
    assert message.startswith("Jan thread (jan_1/messages.jsonl, line 2)")
    assert "no thread.json here" in failure("jan", tmp_path / "jan_1" / "nothing")


def test_lm_studio_keeps_every_version_and_shows_the_selected_one() -> None:
    result = read_export("lmstudio", LMSTUDIO)
    (conversation,) = result.conversations
    assert conversation.title == "Bread hydration"
    assert conversation.created == pytest.approx(1731600000.123)
    assert shown(conversation) == [
        "What hydration should a beginner's sourdough have?",
        "Start around 65 to 70% hydration: the dough is easier to shape.",
        "Here's my crumb."]
    question, first, selected, crumb = conversation.messages
    assert first.text == "Around 70%." and first.parent == selected.parent == question.id
    assert crumb.parent == selected.id  # later turns follow the version shown
    assert selected.model == "lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF"
    assert dict(result.skipped) == {"image": 1}


def test_lm_studio_refuses_a_selection_that_is_not_there(tmp_path: Path) -> None:
    data = json.loads(next(LMSTUDIO.glob("*.json")).read_text())
    data["messages"][1]["currentlySelected"] = 5
    path = tmp_path / "x.conversation.json"
    path.write_text(json.dumps(data))
    assert "message 2" in failure("lmstudio", path)
    (tmp_path / "empty").mkdir()
    assert "holds no *.conversation.json" in failure("lmstudio", tmp_path / "empty")


def test_cove_markdown_round_trips_through_its_own_export(tmp_path: Path) -> None:
    reply = "Steps:\n\n## Knead\n\nTen minutes.\n\n# Not a title either"
    with unlocked_store() as store:
        conversation = store.create_conversation("Bread plan")
        store.append_message(conversation, Message(Role.USER, "How do I make bread?"))
        store.append_message(conversation, Message(Role.ASSISTANT, reply, model="smol"))
        (tmp_path / "bread.md").write_text(conversation_export.as_markdown(store, conversation))
        result = import_file(store, "cove", tmp_path / "bread.md")
        (copy,) = result.conversations
        assert copy.title == "Bread plan"
        assert [(m.role, m.text, m.model) for m in copy.messages] == [
            (Role.USER, "How do I make bread?", ""), (Role.ASSISTANT, reply, "smol")]
        assert store.load_messages(result.ids[0])[1].text == reply  # type: ignore[union-attr]
    (tmp_path / "notes.md").write_text("Just some notes\n\nwith text\n")
    assert "Is this a Cove export?" in failure("cove", tmp_path / "notes.md")


@pytest.mark.real_model
def test_the_real_model_continues_the_imported_branch_shown(cove_home: Path,
                                                            real_engine: Engine) -> None:
    """A reply to an imported branched conversation, from the starter model: its prompt is
    the branch ChatGPT showed last, and none of the other branches."""
    with unlocked_store() as store:
        (conversation_id,) = import_file(store, "chatgpt", CHATGPT_BRANCHES).ids
        summary = store.conversation_summary(conversation_id)
        loaded = [m for m in store.load_messages(conversation_id) if isinstance(m, Message)]
        conversation = Conversation.from_stored(loaded, leaf=summary.leaf, id=conversation_id)
        store.append_message(conversation_id, conversation.add(
            Message(Role.USER, "And which is the shortest?")))
        history = conversation.history_for_reply()
        stream = real_engine.stream_chat(history, GenerationParams(max_tokens=24, seed=3),
                                         conversation_id=conversation_id)
        reply = "".join(stream)
        store.append_message(conversation_id, conversation.add(
            Message(Role.ASSISTANT, reply, model=real_engine.name)))
        after = Conversation.from_stored(
            [m for m in store.load_messages(conversation_id) if isinstance(m, Message)])
    prompt, _, _ = real_engine.render(history)
    assert stream.stats is not None and stream.stats.prompt_tokens == len(prompt)
    read = "\n".join(m["content"] for m in history)
    assert "354 km" in read and "Wales" in read
    assert "Scotland" not in read and "longest river in Britain" not in read
    assert reply.strip()
    # Saved after the branch it continues: shown next time, with the others still there.
    assert [m.text for m in after.messages][-3:] == [
        "The Severn, at about 354 km.", "And which is the shortest?", reply]
    assert len(after.tree) == 9
