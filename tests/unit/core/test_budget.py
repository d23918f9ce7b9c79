from __future__ import annotations

import pytest

from cove.core.budget import PER_MESSAGE_OVERHEAD, Budget, PromptTooLong, fit_history


def words(text: str) -> int:
    return len(text.split())


def msg(role: str, n: int) -> dict[str, str]:
    return {"role": role, "content": " ".join(["w"] * n)}


def test_everything_kept_when_it_fits() -> None:
    history = [msg("system", 5), msg("user", 10), msg("assistant", 10), msg("user", 10)]
    assert fit_history(history, words, Budget(n_ctx=1000, reply_reserve=100)) == history


def test_oldest_turns_dropped_first_but_system_and_newest_kept() -> None:
    history = [msg("system", 5), msg("user", 50), msg("assistant", 50),
               msg("user", 20), msg("assistant", 20), msg("user", 10)]
    limit = 5 + 20 + 20 + 10 + 4 * PER_MESSAGE_OVERHEAD
    fitted = fit_history(history, words, Budget(n_ctx=limit + 10, reply_reserve=10))
    assert fitted == [history[0], history[3], history[4], history[5]]


def test_turns_never_start_with_an_orphan_reply() -> None:
    history = [msg("user", 50), msg("assistant", 10), msg("user", 10)]
    budget = Budget(n_ctx=10 + 10 + 2 * PER_MESSAGE_OVERHEAD + 5, reply_reserve=5)
    assert fit_history(history, words, budget) == [history[2]]


def test_newest_message_too_long_is_a_clear_error() -> None:
    with pytest.raises(PromptTooLong) as raised:
        fit_history([msg("user", 500)], words, Budget(n_ctx=256, reply_reserve=56))
    assert raised.value.available == 200
    assert "Shorten the message" in str(raised.value)


def test_empty_history() -> None:
    assert fit_history([], words, Budget(100, 10)) == []
