"""Chat templates rendered under a budget: real ones as before, hostile ones stopped quickly."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from cove.models.gguf import inspect_gguf
from cove.models.template_guard import (
    SAMPLE_CONVERSATION,
    TemplateTooCostly,
    guarded_chat_templates,
    render_chat_template,
    template_error_message,
)

LOOPS_FOR_EVER = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
)
NESTED_OVER_MESSAGES = "{% for m in messages %}" * 12 + "x" + "{% endfor %}" * 12
HUGE_STRINGS = [
    "{% set s = 'x' * (2**31) %}{{ s }}",
    "{% set s = 'x' * (2**31) %}",
    "{{ ['x'] * 2**31 }}",
    "{{ 'x' | center(2**31) }}",
    "{{ 'x'.ljust(2**31) }}",
    "{{ '%*d' % (2**31, 1) }}",
    "{{ 10 ** (10 ** 10) }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}",
    "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
]


def test_the_starter_template_renders_as_llama_cpp_renders_it(starter_model: Path) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = inspect_gguf(starter_model).chat_template
    assert template
    theirs = Jinja2ChatFormatter(template, eos_token="</s>", bos_token="<s>")(
        messages=[dict(m) for m in SAMPLE_CONVERSATION]).prompt  # type: ignore[misc]
    ours = render_chat_template(template, eos_token="</s>", bos_token="<s>")
    assert ours == theirs
    assert "<|im_start|>user\nTell me a joke.<|im_end|>" in ours


def test_a_long_conversation_renders_within_the_budget() -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
                for i in range(2000)]
    template = ("{% for m in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
                "<|{{ m['role'] }}|>{{ m['content'] | trim }}{{ eos_token }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    text = render_chat_template(template, messages, bos_token="<s>", eos_token="</s>")
    assert text.count("</s>") == 2000


@pytest.mark.parametrize("template", [LOOPS_FOR_EVER, NESTED_OVER_MESSAGES])
def test_a_template_that_loops_for_ever_stops_quickly(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateTooCostly) as caught:
        render_chat_template(template)
    assert time.monotonic() - started < 5
    assert caught.value.reason == "time"
    assert template_error_message(caught.value) == (
        "The model's chat template took too long to render; choose another model.")


@pytest.mark.parametrize("template", HUGE_STRINGS)
def test_a_template_that_builds_huge_text_is_refused_without_building_it(template: str) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(TemplateTooCostly) as caught:
        render_chat_template(template)
    assert caught.value.reason == "size"
    assert "too large" in template_error_message(caught.value)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 200


def test_llama_cpp_formats_with_the_budget_only_inside_the_block() -> None:
    import llama_cpp.llama_chat_format as chat_format

    original = chat_format.Jinja2ChatFormatter
    with guarded_chat_templates():
        formatter = chat_format.Jinja2ChatFormatter(
            template=LOOPS_FOR_EVER, eos_token="</s>", bos_token="<s>")
        fine = chat_format.Jinja2ChatFormatter(
            template="{% for m in messages %}[{{ m.content }}]{% endfor %}",
            eos_token="</s>", bos_token="<s>")
    assert chat_format.Jinja2ChatFormatter is original
    with pytest.raises(TemplateTooCostly):
        formatter(messages=[{"role": "user", "content": "hi"}])
    assert fine(messages=[{"role": "user", "content": "hi"}]).prompt == "[hi]"


QWEN3_LIKE = (
    "{%- for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{%- endif %}{%- endif %}"
)


def test_a_models_thinking_switch_reaches_its_template_and_no_other() -> None:
    from cove.models.template_guard import _guarded_formatter_class, set_template_variables

    formatter_class = _guarded_formatter_class()
    qwen = formatter_class(QWEN3_LIKE, eos_token="<|im_end|>", bos_token="")
    asked = [{"role": "user", "content": "What is 2 + 2?"}]
    assert "<think>" not in qwen(messages=asked).prompt  # thinking on: the model decides
    assert set_template_variables(qwen, {"enable_thinking": False})
    assert qwen(messages=asked).prompt.endswith("assistant<think>\n\n</think>")  # empty: off
    plain = formatter_class("{% for m in messages %}{{ m.content }}{% endfor %}",
                            eos_token="", bos_token="")
    assert not set_template_variables(plain, {"enable_thinking": False})  # no switch there


def test_the_thinking_setting_is_kept_per_model_and_reloads_the_model() -> None:
    from cove.settings import ModelSettings

    off = ModelSettings.from_json({"thinking": False})
    assert off.thinking is False and off.load_options().thinking is False
    assert ModelSettings.from_json({"thinking": "no"}).thinking is True  # mistyped: default
    assert off.load_differs(ModelSettings())
