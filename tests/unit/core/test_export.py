"""The Markdown a person gets from File > Export, checked whole, line by line."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cove.core.conversation import Message, MessageState, Role
from cove.core.export import conversation_markdown
from cove.storage.codecs import ConversationSummary

STARTED = 1_700_000_000.0  # 2023-11-14 22:13 UTC


@pytest.fixture(autouse=True)
def india_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fixed zone half an hour off whole hours, so UTC or a wrong offset shows."""
    if not hasattr(time, "tzset"):
        pytest.skip("time zones can only be switched on POSIX")
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def summary(title: str = "Lisbon trip", damaged: bool = False) -> ConversationSummary:
    return ConversationSummary("a" * 16, title, False, STARTED, STARTED + 3600, 2, damaged)


def test_a_normal_conversation() -> None:
    messages = [
        Message(Role.USER, "Where should I eat?", created=STARTED + 60),
        Message(Role.ASSISTANT, "Try **Ramiro**.\n\n- shellfish\n- beer", model="smollm2",
                created=STARTED + 125),
    ]
    assert conversation_markdown(summary(), messages) == (
        "# Lisbon trip\n"
        "\n"
        "_Started 2023-11-15 03:43_\n"
        "\n"
        "## You · 2023-11-15 03:44\n"
        "\n"
        "Where should I eat?\n"
        "\n"
        "## Assistant (smollm2) · 2023-11-15 03:45\n"
        "\n"
        "Try **Ramiro**.\n"
        "\n"
        "- shellfish\n"
        "- beer\n"
    )


def test_replies_that_did_not_finish_say_so() -> None:
    messages = [
        Message(Role.ASSISTANT, "Half a", model="smollm2", state=MessageState.STOPPED,
                created=STARTED),
        Message(Role.ASSISTANT, "", state=MessageState.FAILED, error="The model ran out of room.",
                created=STARTED),
        Message(Role.ASSISTANT, "", state=MessageState.FAILED, created=STARTED),
        Message(Role.ASSISTANT, "Still go", state=MessageState.STREAMING, created=STARTED),
    ]
    assert conversation_markdown(summary("Odd replies"), messages) == (
        "# Odd replies\n"
        "\n"
        "_Started 2023-11-15 03:43_\n"
        "\n"
        "## Assistant (smollm2) · 2023-11-15 03:43\n"
        "\n"
        "Half a\n"
        "\n"
        "_Stopped before the end._\n"
        "\n"
        "## Assistant · 2023-11-15 03:43\n"
        "\n"
        "\n"
        "\n"
        "_Failed: The model ran out of room._\n"
        "\n"
        "## Assistant · 2023-11-15 03:43\n"
        "\n"
        "\n"
        "\n"
        "_Failed._\n"
        "\n"
        "## Assistant · 2023-11-15 03:43\n"
        "\n"
        "Still go\n"
        "\n"
        "_Interrupted: Cove closed before this reply finished._\n"
    )


DAMAGED_SECTION = (
    "## Damaged message\n"
    "\n"
    "> This message could not be read: it is damaged or missing.\n"
)


def test_a_damaged_message_is_named_and_never_shown() -> None:
    messages = [
        Message(Role.USER, "Before", created=STARTED),
        None,
        Message(Role.ASSISTANT, "secret leftovers", state=MessageState.DAMAGED, created=STARTED),
        Message(Role.SYSTEM, "After", created=STARTED),
    ]
    exported = conversation_markdown(summary(), messages)
    assert exported == (
        "# Lisbon trip\n"
        "\n"
        "_Started 2023-11-15 03:43_\n"
        "\n"
        "## You · 2023-11-15 03:43\n"
        "\n"
        "Before\n"
        "\n"
        + DAMAGED_SECTION + "\n" + DAMAGED_SECTION + "\n"
        "## System · 2023-11-15 03:43\n"
        "\n"
        "After\n"
    )
    assert "secret leftovers" not in exported


def test_a_damaged_summary_hides_its_dates_and_an_empty_title_reads_untitled() -> None:
    assert conversation_markdown(summary(title="", damaged=True), [None]) == (
        "# Untitled conversation\n"
        "\n"
        "_The title and dates of this conversation are damaged and could not be read._\n"
        "\n"
        + DAMAGED_SECTION
    )
    assert conversation_markdown(summary(title=""), []) == (
        "# Untitled conversation\n"
        "\n"
        "_Started 2023-11-15 03:43_\n"
    )
