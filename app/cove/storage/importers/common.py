"""What every importer shares: the result, the error, loading JSON with positions, the size
limit, times in any unit, and a source's message tree made into Cove's."""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.core.conversation import ROOT, Conversation, Message, Role
from cove.core.units import format_bytes
from cove.storage.store import ImportedConversation

# Exports are read whole (json has no streaming parser in the standard library): a file over
# this is refused with its size rather than filling memory.
MAX_BYTES = 200 * 1024 * 1024
# The roles most apps write, as OpenAI's API names them.
ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM}


class ImportFailed(Exception):
    """The file cannot be imported; the message names the format, the place and the fix.
    Nothing was stored."""

    def __init__(self, what: str, place: str, problem: str) -> None:
        where = f" ({place})" if place else ""
        super().__init__(f"{what}{where}: {problem} Nothing was imported.")


@dataclass
class ImportResult:
    """What one file held: the conversations to store and what was left out, and why."""

    label: str  # the format in words ("ChatGPT export")
    source: Path
    conversations: list[ImportedConversation] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # e.g. "image" -> 3
    ids: list[str] = field(default_factory=list)  # once stored

    @property
    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.conversations)

    @property
    def branch_message_count(self) -> int:
        """How many of the messages are off the branch each conversation shows."""
        return sum(len(c.messages) - len(Conversation.from_stored(
            list(c.messages), leaf=c.leaf).messages) for c in self.conversations)

    def summary(self) -> str:
        """The sentence shown after an import (counts only, never text)."""
        count = len(self.conversations)
        branched = self.branch_message_count
        aside = f", {branched} of them on other branches" if branched else ""
        text = (f"Imported {count} conversation{'s' if count != 1 else ''} "
                f"({self.message_count} messages{aside}) from the {self.label}.")
        if self.skipped:
            text += " Skipped: " + ", ".join(
                f"{n} {_plural(reason, n)}" for reason, n in sorted(self.skipped.items())) + "."
        return text + (f" The file you imported from, {self.source}, is still on disk in "
                       "plaintext: delete it when you no longer need it.")


def _plural(reason: str, count: int) -> str:
    if count == 1 or reason.endswith("s") or reason.endswith("output"):
        return reason
    return reason + "s"


def load_json(path: Path, what: str) -> Any:
    """The file parsed as JSON; ImportFailed for a missing, huge, non-text or broken file."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImportFailed(what, path.name, (
                f"the file is {format_bytes(size)}, more than the {format_bytes(MAX_BYTES)} "
                "Cove reads at once. Export fewer conversations, or split the file."))
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed(what, str(path), "there is no such file.") from None
    except IsADirectoryError:
        raise ImportFailed(what, str(path), "this is a folder; choose the file in it.") from None
    except PermissionError:
        raise ImportFailed(what, str(path), "Cove may not read this file.") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise ImportFailed(what, path.name, "the file is not text (UTF-8 JSON).") from None
    except json.JSONDecodeError as error:
        raise ImportFailed(what, f"{path.name}, line {error.lineno}, column {error.colno}", (
            "the JSON is cut short or malformed. Export it again from the app.")) from None


def read_list(path: Path, what: str, item: str, marker: str,
              convert: Callable[[dict[str, Any], str, ImportResult], ImportedConversation]
              ) -> ImportResult:
    """A JSON file holding a list of `item`s (or one on its own, known by its `marker` key),
    each turned into a conversation by convert(item, place, result)."""
    data = load_json(path, what)
    if isinstance(data, dict) and marker in data:
        data = [data]
    items = require(data, list, what, path.name, f"the whole file (a list of {item}s)")
    result = ImportResult(what, path)
    for number, entry in enumerate(items, 1):
        place = f"{path.name}, {item} {number}"
        result.conversations.append(convert(require(entry, dict, what, place, item), place,
                                            result))
    return result


def export_files(path: Path, what: str, pattern: str) -> list[Path]:
    """`path` itself, or the files in the folder `path` that match `pattern`, in name order."""
    if path.is_dir():
        found = sorted(p for p in path.glob(pattern) if p.is_file())
        if not found:
            raise ImportFailed(what, str(path), f"the folder holds no {pattern} files.")
        return found
    if not path.exists():
        raise ImportFailed(what, str(path), "there is no such file.")
    return [path]


def require(value: object, kind: type, what: str, place: str, name: str) -> Any:
    """`value` when it is a `kind`; ImportFailed naming the missing or wrong field otherwise."""
    if not isinstance(value, kind):
        found = "missing" if value is None else f"a {_kind_name(type(value))}"
        subject = name if name.startswith("the ") else f"the field {name!r}"
        raise ImportFailed(what, place, (
            f"{subject} should be a {_kind_name(kind)} but is {found}. Is this the right kind "
            "of file?"))
    return value


_KIND_NAMES: dict[type, str] = {dict: "JSON object", list: "JSON list", str: "text"}


def _kind_name(kind: type) -> str:
    return _KIND_NAMES.get(kind, kind.__name__)


def seconds(value: object) -> float | None:
    """A time as Unix seconds, whether written in seconds, milliseconds or nanoseconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e17:
        return number / 1e9
    if number > 1e11:
        return number / 1e3
    return number if number > 0 else None


# A source node: the id of the node it follows (None for a root) and the message it holds
# (None for what Cove does not show: the tree's root, hidden context, tool calls and output).
SourceNode = tuple[str | None, Message | None]


def build_tree(nodes: Mapping[str, SourceNode], current: str | None, what: str,
               place: str) -> tuple[list[Message], str]:
    """Every message of a source's tree as Cove's tree, and the id of the one shown last.

    Each message follows the nearest node above it that holds one (ROOT for none), so what is
    left out never breaks a branch. They come parents first, then the oldest first among what
    can come next, as Cove stores its own. The one shown is `current`'s message, or the
    nearest above it. A loop, or a parent that is not in `nodes`, is an ImportFailed, never a
    hang."""
    above: dict[str, str] = {}  # node -> the id of its own or the nearest message above ("")
    for start in nodes:
        trail: list[str] = []
        on_trail: set[str] = set()
        node: str | None = start
        while node is not None and node not in above:
            if node in on_trail:
                raise ImportFailed(what, place, "its message tree loops back on itself, so it "
                                   "has no beginning. The file was edited or damaged.")
            if node not in nodes:
                raise _not_in_file(what, place, node)
            trail.append(node)
            on_trail.add(node)
            node = nodes[node][0]
        nearest = above[node] if node is not None else ""
        for source in reversed(trail):
            message = nodes[source][1]
            if message is not None:
                message.parent = nearest or ROOT
                nearest = message.id
            above[source] = nearest
    if current is not None and current not in nodes:
        raise _not_in_file(what, place, current)
    messages = [message for _, message in nodes.values() if message is not None]
    order = {message.id: number for number, message in enumerate(messages)}
    children: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        children[message.parent].append(message)
    ready = [(m.created, order[m.id]) for m in children[ROOT]]
    heapq.heapify(ready)
    stored: list[Message] = []
    while ready:
        _, number = heapq.heappop(ready)
        stored.append(messages[number])
        for child in children[messages[number].id]:
            heapq.heappush(ready, (child.created, order[child.id]))
    return stored, above[current] if current is not None else ""


def _not_in_file(what: str, place: str, node: str) -> ImportFailed:
    return ImportFailed(what, place, f"it names a message {node!r} that is not in the file. "
                        "The file was edited or damaged.")
