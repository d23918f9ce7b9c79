"""Chat formats for files without a template, checked against llama-cpp-python itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from cove.models.chat_format import (
    BUILT_IN_FORMATS,
    NO_SYSTEM_ROLE,
    OWN_TEMPLATE_LABEL,
    chat_format_for,
    fold_system_prompt,
)
from cove.models.gguf import inspect_gguf


def test_every_built_in_format_exists_in_llama_cpp() -> None:
    from llama_cpp.llama_chat_format import get_chat_completion_handler

    for name in BUILT_IN_FORMATS:
        assert callable(get_chat_completion_handler(name))


def test_own_template_wins(starter_model: Path) -> None:
    assert chat_format_for(inspect_gguf(starter_model)) == (None, OWN_TEMPLATE_LABEL)


def test_gemma_without_template_gets_gemma_format(gemma_model: Path) -> None:
    assert chat_format_for(inspect_gguf(gemma_model)) == ("gemma", "Gemma format (built-in)")


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"general.architecture": "gemma2"}, "gemma"),
        ({"general.architecture": "qwen2"}, "chatml"),
        ({"general.architecture": "qwen3"}, "chatml"),
        ({"general.architecture": "llama", "tokenizer.ggml.pre": "llama-bpe"}, "llama-3"),
        ({"general.architecture": "llama", "general.name": "Meta Llama 3.1 8B"}, "llama-3"),
        ({"general.architecture": "llama", "tokenizer.ggml.model": "llama"}, "llama-2"),
        ({"general.architecture": "llama", "general.name": "Mistral 7B v0.3"}, "mistral-instruct"),
        ({"general.architecture": "phi3"}, "chatml"),
        ({"general.architecture": "something-new"}, "chatml"),
        ({"general.architecture": "qwen2", "tokenizer.chat_template": "   "}, "chatml"),
    ],
)
def test_choice_by_architecture(metadata: dict[str, object], expected: str) -> None:
    name, label = chat_format_for(metadata)
    assert name == expected
    assert label == BUILT_IN_FORMATS[expected]


@pytest.mark.real_model
def test_gemma_replies_with_the_built_in_format(gemma_model: Path) -> None:
    from llama_cpp import Llama

    from cove.inference.cpu_check import shared_check
    from cove.models.llama_params import context_params, model_params

    name, _label = chat_format_for(inspect_gguf(gemma_model))
    # With the kernels Cove decided on for this CPU: the fast ones may fault here (SIGILL).
    with model_params(extra_buffers=shared_check().kernels(gemma_model).extra_buffers):
        llm = Llama(model_path=str(gemma_model), chat_format=name, n_ctx=512, verbose=False,
                    seed=1, **context_params())
    try:
        reply = llm.create_chat_completion(
            messages=[{"role": "user", "content": "Name one colour of the sky."}],
            max_tokens=24,
            temperature=0.0,
        )
    finally:
        llm.close()
    text = reply["choices"][0]["message"]["content"]  # type: ignore[index]
    assert isinstance(text, str) and text.strip()
    assert "<start_of_turn>" not in text  # the format's stop marker was honoured


def _prompt(name: str, messages: list[dict[str, str]]) -> str:
    from llama_cpp import llama_chat_format as formats

    formatter = {"gemma": formats.format_gemma, "llama-3": formats.format_llama3,
                 "llama-2": formats.format_llama2, "chatml": formats.format_chatml,
                 "mistral-instruct": formats.format_mistral_instruct}[name]
    return str(formatter(messages).prompt)


@pytest.mark.parametrize("name", sorted(BUILT_IN_FORMATS))
def test_the_system_prompt_reaches_the_model_in_every_built_in_format(name: str) -> None:
    """llama-cpp-python's Gemma and Mistral formats drop a system message; Cove folds it in."""
    messages = [{"role": "system", "content": "SYSTEM-MARK"},
                {"role": "user", "content": "USER-MARK"}]
    dropped = "SYSTEM-MARK" not in _prompt(name, messages)
    assert dropped == (name in NO_SYSTEM_ROLE)
    sent = fold_system_prompt(messages) if name in NO_SYSTEM_ROLE else messages
    prompt = _prompt(name, sent)
    assert "SYSTEM-MARK" in prompt and prompt.index("SYSTEM-MARK") < prompt.index("USER-MARK")


def test_folding_puts_the_system_prompt_into_the_first_user_turn_only() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "one"}, {"role": "assistant", "content": "1"},
                {"role": "user", "content": "two"}]
    assert fold_system_prompt(messages) == [
        {"role": "user", "content": "Be brief.\n\none"}, {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"}]
    assert messages[1]["content"] == "one"  # the caller's list is left as it was
    assert fold_system_prompt(messages[1:]) == messages[1:]
