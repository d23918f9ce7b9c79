"""Which chat format to give llama.cpp for a model file, and how to name that choice for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cove.models.gguf import GGUFInfo

OWN_TEMPLATE_LABEL = "Model's own template"

# llama-cpp-python's built-in formats Cove may choose, with the label people see. Every name
# here must be registered in llama_cpp.llama_chat_format (a test checks the installed one).
BUILT_IN_FORMATS: dict[str, str] = {
    "gemma": "Gemma format (built-in)",
    "llama-3": "Llama 3 format (built-in)",
    "llama-2": "Llama 2 format (built-in)",
    "mistral-instruct": "Mistral Instruct format (built-in)",
    "chatml": "ChatML format (built-in)",
}
GENERIC_FORMAT = "chatml"
# Built-in formats that silently drop a system message; the prompt goes into the first user
# turn instead, as Gemma's and Mistral's own templates do.
NO_SYSTEM_ROLE = {"gemma", "mistral-instruct"}

_GEMMA_ARCHITECTURES = {"gemma", "gemma2", "gemma3", "gemma3n"}
# Qwen's models speak ChatML; so do most recent fine-tunes without a template.
_CHATML_ARCHITECTURES = {"qwen", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "smollm3"}


def chat_format_for(model: GGUFInfo | Mapping[str, object]) -> tuple[str | None, str]:
    """(llama-cpp-python chat_format, label for people) for a model file.

    None when the file carries its own chat template: llama-cpp-python then renders that
    template (in its sandboxed Jinja environment), which is always the better choice.
    Otherwise a built-in format picked from the architecture and tokenizer hints, falling back
    to ChatML, the format most instruction-tuned models without a template understand.
    """
    metadata: Mapping[str, object] = model.metadata if isinstance(model, GGUFInfo) else model
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        return None, OWN_TEMPLATE_LABEL
    name = _builtin_for(metadata)
    return name, BUILT_IN_FORMATS[name]


def fold_system_prompt(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The messages with every system message put before the first user message's text."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    folded = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        first = next((m for m in folded if m["role"] == "user"), None)
        if first is not None:
            first["content"] = f"{system}\n\n{first['content']}"
    return folded


def _builtin_for(metadata: Mapping[str, object]) -> str:
    architecture = _text(metadata, "general.architecture")
    if architecture in _GEMMA_ARCHITECTURES:
        return "gemma"
    if architecture in _CHATML_ARCHITECTURES:
        return "chatml"
    if architecture == "llama":
        model_name = " ".join(
            _text(metadata, key) for key in ("general.name", "general.basename")
        ).lower()
        if "mistral" in model_name or "mixtral" in model_name:
            return "mistral-instruct"
        # Llama 3 swapped SentencePiece for a BPE tokenizer; llama.cpp names its pre-tokenizer
        # "llama-bpe". Llama 2 files keep the SentencePiece ("llama") tokenizer model.
        if _text(metadata, "tokenizer.ggml.pre") == "llama-bpe" or "llama 3" in model_name.replace(
            "-", " "
        ):
            return "llama-3"
        if _text(metadata, "tokenizer.ggml.model") == "llama":
            return "llama-2"
    return GENERIC_FORMAT


def _text(metadata: Mapping[str, object], key: str) -> str:
    value = metadata.get(key)
    return value if isinstance(value, str) else ""
