"""The review pane's diff: the original and the model's result split into words, compared, and
grouped into blocks a person accepts or rejects one by one."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from difflib import SequenceMatcher

# Words, runs of spaces (line breaks kept), and single punctuation marks: a changed comma is a
# change of one token, not of the word it sits on.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Block:
    """A run of the text: unchanged (`changed` False: old == new) or one change to review."""

    old: str
    new: str
    changed: bool

    @property
    def kind(self) -> str:
        if not self.changed:
            return "same"
        return "insert" if not self.old else "delete" if not self.new else "replace"


def diff_blocks(original: str, result: str) -> list[Block]:
    """`original` -> `result` as blocks; joining every block's `new` gives `result`, every
    block's `old` gives `original`. Changes separated only by a space are one block, so a
    rewritten phrase is one decision rather than one per word."""
    a, b = tokens(original), tokens(result)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    blocks: list[Block] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            blocks.append(Block(old, new, False))
        elif blocks and blocks[-1].changed:
            blocks[-1] = Block(blocks[-1].old + old, blocks[-1].new + new, True)
        else:
            blocks.append(Block(old, new, True))
    return _merge_across_spaces(blocks)


def _merge_across_spaces(blocks: list[Block]) -> list[Block]:
    merged: list[Block] = []
    for block in blocks:
        if (block.changed and len(merged) >= 2 and merged[-2].changed
                and not merged[-1].changed and merged[-1].old.isspace()):
            gap = merged.pop()
            before = merged.pop()
            block = Block(before.old + gap.old + block.old, before.new + gap.new + block.new,
                          True)
        merged.append(block)
    return merged


def changes(blocks: list[Block]) -> list[int]:
    """The indexes of the blocks that are changes, in order."""
    return [index for index, block in enumerate(blocks) if block.changed]


def apply_blocks(blocks: list[Block], accepted: Collection[int]) -> str:
    """The text with the changes at `accepted` indexes taken and every other one refused."""
    return "".join(block.new if block.changed and index in accepted else block.old
                   for index, block in enumerate(blocks))
