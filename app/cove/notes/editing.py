"""Plain-editor rules for Markdown typing: lists and quotes that continue on Enter, counts."""

from __future__ import annotations

import re
from typing import NamedTuple

_LIST_ITEM = re.compile(r"^(?P<indent>\s*)(?:(?P<bullet>[-*+])|(?P<number>\d{1,9})(?P<dot>[.)]))"
                        r"(?P<space>\s+)(?P<box>\[[ xX]\]\s+)?(?P<rest>.*)$")
_QUOTE = re.compile(r"^(?P<mark>\s*(?:>\s?)+)(?P<rest>.*)$")


class EnterResult(NamedTuple):
    """What Enter does at the end of a line: `insert` after the line break, or, when
    `end_list`, the line's empty list mark is removed instead (Enter on an empty item)."""

    insert: str
    end_list: bool = False


def on_enter(line: str) -> EnterResult:
    """The text to start the next line with, given the line the cursor ends (as in most
    Markdown editors: "- a" gives "- ", "3. c" gives "4. ", "- [x] done" gives "- [ ] ")."""
    item = _LIST_ITEM.match(line)
    if item is not None:
        if not item["rest"].strip():
            return EnterResult("", end_list=True)
        if item["number"] is not None:
            mark = f"{int(item['number']) + 1}{item['dot']}"
        else:
            mark = item["bullet"]
        box = "[ ] " if item["box"] else ""
        return EnterResult(f"{item['indent']}{mark}{item['space']}{box}")
    quote = _QUOTE.match(line)
    if quote is not None:
        if not quote["rest"].strip():
            return EnterResult("", end_list=True)
        return EnterResult(quote["mark"] if quote["mark"].endswith(" ") else quote["mark"] + " ")
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return EnterResult(indent if line.strip() else "")
