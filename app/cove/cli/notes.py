"""`cove notes list|export|import` and `cove draft ACTION`: notes from a terminal, on the same
encrypted store, and a writing action run with the real model (it never changes the note)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from cove.cli.backup import with_unlocked_store
from cove.cli.history import _fail, _write
from cove.notes.actions import (
    DRAFT_TEMPERATURE,
    ActionError,
    build_messages,
    clean_result,
    find_action,
)
from cove.notes.files import ImportRefused, note_export_text, read_note_file
from cove.notes.note import title_of
from cove.paths import AppPaths
from cove.storage.store import ConversationStore, default_store_path

NOTES_USAGE = "usage: cove notes list | cove notes export ID | cove notes import FILE"
DRAFT_USAGE = ("usage: cove draft ACTION [--note ID] [--instruction TEXT] "
               "[--model PATH_OR_NAME]")
T = TypeVar("T")


def _with_store(paths: AppPaths, work: Callable[[ConversationStore], T],
                create: bool = False) -> T | int:
    """work(store) on the unlocked history, or an exit status after saying what went wrong."""
    return with_unlocked_store(
        paths, work, create, nothing="There are no saved notes yet.",
        not_found="No note has that id. `cove notes list` shows the ids.", what="the notes")


def run_notes(command: Sequence[str], paths: AppPaths) -> int:
    verb = command[0] if command else ""
    if not ((verb == "list" and len(command) == 1)
            or (verb in ("export", "import") and len(command) == 2)):
        return _fail(NOTES_USAGE, 2)
    if verb == "list":
        if not default_store_path(paths).exists():
            return 0  # no history yet: nothing to list

        def list_notes(store: ConversationStore) -> int:
            for summary in store.notes.list_notes():
                title = "(damaged)" if summary.damaged else summary.title
                _write(f"{summary.id}\t{summary.words}\t{title}\n")
            return 0

        return int(_with_store(paths, list_notes))
    if verb == "export":

        def export_note(store: ConversationStore) -> int:
            _write(note_export_text(store.notes.load_note(command[1])))
            return 0

        return int(_with_store(paths, export_note))
    try:
        text = read_note_file(Path(command[1]))
    except ImportRefused as error:
        return _fail(str(error))

    def import_note(store: ConversationStore) -> int:
        print(store.notes.create_note(text).id)
        return 0

    return int(_with_store(paths, import_note, create=True))


def run_draft(command: Sequence[str], args: argparse.Namespace, paths: AppPaths) -> int:
    if len(command) != 1:
        return _fail(DRAFT_USAGE, 2)
    try:
        action = find_action(command[0])
    except ActionError as error:
        return _fail(str(error), 2)
    if args.note:
        loaded = _with_store(paths, lambda store: store.notes.load_note(args.note))
        if isinstance(loaded, int):
            return loaded
        text = loaded.text
    else:
        if sys.stdin.isatty():
            print("Type or paste the text, then press Ctrl-D.", file=sys.stderr)
        text = sys.stdin.read()
    try:
        messages = build_messages(action, text, text, title_of(text), args.instruction or "")
    except ActionError as error:
        return _fail(str(error))
    return _generate(messages, action, text, args, paths)


def _generate(messages: list[dict[str, str]], action: object, text: str,
              args: argparse.Namespace, paths: AppPaths) -> int:
    from cove.inference.engine import Engine, EngineError
    from cove.models.registry import ModelRegistry
    from cove.notes.actions import WritingAction
    from cove.settings import Settings
    from cove.ui.app import resolve_model  # the same choice of model as the window's

    assert isinstance(action, WritingAction)
    settings = Settings.load(paths.settings_file)
    registry = ModelRegistry.for_paths(paths)
    try:
        model = resolve_model(args.model, settings, registry)
    except ValueError as error:
        return _fail(str(error))
    if model is None:
        from cove.models.starter import INSTALL_HINT

        return _fail(f"No model found. {INSTALL_HINT}")
    installed = next((m for m in registry.models() if m.file == model), None)
    model_settings = settings.for_model(installed)
    params = replace(model_settings.generation_params(max_tokens=args.max_tokens,
                                                      seed=args.seed),
                     temperature=DRAFT_TEMPERATURE)
    # llama.cpp points descriptors 1 and 2 at /dev/null while a model loads; keep copies.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="backslashreplace")
    sys.stdout.flush()
    engine = Engine(model, model_settings.load_options())
    try:
        engine.load()
        stream = engine.stream_chat(messages, params)
        reply = "".join(stream)
    except EngineError as error:
        return _fail(str(error))
    finally:
        engine.close()
    result = clean_result(action, reply)
    stats = stream.stats
    assert stats is not None
    line = {**stats.as_dict(), "action": action.name}
    with out:
        out.write(result + "\n" + json.dumps(line) + "\n")
    return 0
