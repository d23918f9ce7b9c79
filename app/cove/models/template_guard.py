"""Rendering a model file's chat template in a sandbox with a budget, so a hostile one stops."""

from __future__ import annotations

import contextlib
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

# A real chat template renders a long conversation in a few thousand steps and milliseconds;
# these leave room a hundred times over, and a template that loops for ever reaches them in
# well under a second.
MAX_STEPS = 500_000  # loop iterations, calls and attribute look-ups in one render
MAX_SECONDS = 5.0  # wall clock for one render
# The longest string or list one operation may build, and the longest prompt: far above any
# context a model on a desktop takes (128k tokens are about 500k characters).
MAX_LENGTH = 8_000_000
_MAX_POWER_BITS = 4096  # 2**4096 is already absurd in a chat template

SAMPLE_CONVERSATION: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke."},
)


class TemplateTooCostly(Exception):
    """The chat template ran past its budget; `reason` is "time" or "size"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the chat template exceeded its {reason} budget")
        self.reason = reason


def template_error_message(error: TemplateTooCostly) -> str:
    """The sentence a person sees when a model's chat template is refused."""
    if error.reason == "size":
        return ("The model's chat template tried to build text too large to render; "
                "choose another model.")
    return "The model's chat template took too long to render; choose another model."


class _Budget(threading.local):
    steps = 0
    deadline = 0.0
    active = False


class _IgnoreGenerationTags(Extension):
    """Pass-through for Hugging Face's `{% generation %}` tag, as llama-cpp-python does."""

    tags = {"generation"}  # noqa: RUF012 (Jinja's Extension declares it so)

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus a step and time budget and a cap on what one
    operation may build.

    Every `for` loop's iterable and every `~` concatenation is wrapped (in the parsed
    template, where a template cannot reach) so each item and each join is counted; calls,
    attribute look-ups and the binary operators the sandbox intercepts are counted too.
    Intercepting `*`, `+`, `%` and `**` also stops Jinja from folding them into constants
    while compiling, so `'x' * 2**31` costs nothing until it runs, and then is refused.
    """

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True,
                         extensions=[_IgnoreGenerationTags, loopcontrols])
        self._budget = _Budget()
        self.filters = {name: self._guard_filter(f) for name, f in self.filters.items()}

    # The budget -------------------------------------------------------------------------

    @contextlib.contextmanager
    def budget(self) -> Iterator[None]:
        """Count one render from zero (nested renders on the same thread share it)."""
        budget = self._budget
        if budget.active:
            yield
            return
        budget.steps, budget.deadline, budget.active = 0, time.monotonic() + MAX_SECONDS, True
        try:
            yield
        finally:
            budget.active = False

    def tick(self) -> None:
        budget = self._budget
        budget.steps += 1
        if budget.steps > MAX_STEPS:
            raise TemplateTooCostly("time")
        if budget.steps % 256 == 0 and budget.active and time.monotonic() > budget.deadline:
            raise TemplateTooCostly("time")

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def guard_concat(self, text: Any) -> Any:
        self.tick()
        _check_size(text)
        return text

    # The sandbox's hooks ------------------------------------------------------------------

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _Wrapper().visit(tree)  # type: ignore[no-any-return]

    def call(__self, __context: Any, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        __self.tick()
        _check_arguments(args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        self.tick()
        _check_binop(operator_name, left, right)
        result = _BINOPS[operator_name](left, right)
        _check_size(result)
        return result

    def _guard_filter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            _check_arguments(args, kwargs)
            result = function(*args, **kwargs)
            _check_size(result)
            return result

        # Jinja passes the context or environment to filters marked for it; keep the mark.
        for mark in ("jinja_pass_arg",):
            if hasattr(function, mark):
                setattr(guarded, mark, getattr(function, mark))
        guarded.__name__ = getattr(function, "__name__", "filter")
        return guarded


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul, "+": operator.add, "%": operator.mod, "**": operator.pow,
    "/": operator.truediv, "//": operator.floordiv, "-": operator.sub,
}


class _Wrapper(NodeTransformer):
    """Wraps each loop's iterable in environment.guard_iter and each `~` in guard_concat."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _environment_call("guard_iter", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _environment_call("guard_concat", node)


def _environment_call(attribute: str, argument: nodes.Node) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(attribute), [argument], [], None, None,
                      lineno=argument.lineno)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _check_size(value: Any) -> None:
    if _length(value) > MAX_LENGTH:
        raise TemplateTooCostly("size")


def _check_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """A number big enough to build a huge string (`center(2**31)`, `ljust`) is refused
    before the call builds it."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_LENGTH:
            raise TemplateTooCostly("size")


def _check_binop(name: str, left: Any, right: Any) -> None:
    if name == "*":
        for sequence, count in ((left, right), (right, left)):
            if _length(sequence) and isinstance(count, int) and \
                    _length(sequence) * max(count, 0) > MAX_LENGTH:
                raise TemplateTooCostly("size")
    elif name == "+":
        if _length(left) + _length(right) > MAX_LENGTH:
            raise TemplateTooCostly("size")
    elif name == "%":
        values = right if isinstance(right, tuple) else (right,)
        if isinstance(left, str):
            _check_arguments(values, {})
    elif name == "**" and isinstance(left, int) and isinstance(right, int) and \
            abs(left) > 1 and right * abs(left).bit_length() > _MAX_POWER_BITS:
        raise TemplateTooCostly("size")


def render_chat_template(template: str, messages: Sequence[Mapping[str, str]] = SAMPLE_CONVERSATION,
                         *, bos_token: str = "", eos_token: str = "",
                         add_generation_prompt: bool = True) -> str:
    """Compile and render `template` under the budget. Raises TemplateTooCostly, or Jinja's
    own errors for a template that is broken or refuses the conversation."""
    environment = BudgetedEnvironment()
    compiled = environment.from_string(template)
    return render_within_budget(compiled, {
        "messages": [dict(m) for m in messages], "bos_token": bos_token,
        "eos_token": eos_token, "add_generation_prompt": add_generation_prompt,
        "raise_exception": _raise_exception, "strftime_now": _strftime_now,
    })


def render_within_budget(compiled: Any, variables: Mapping[str, Any]) -> str:
    """Render a template compiled by a BudgetedEnvironment, capping the whole output too."""
    environment: BudgetedEnvironment = compiled.environment
    pieces: list[str] = []
    length = 0
    with environment.budget():
        for piece in compiled.generate(**variables):
            length += len(piece)
            if length > MAX_LENGTH:
                raise TemplateTooCostly("size")
            environment.tick()
            pieces.append(piece)
    return "".join(pieces)


def _raise_exception(message: str) -> None:
    raise ValueError(message)


def _strftime_now(format_: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(format_)


# llama-cpp-python --------------------------------------------------------------------------

_patch_lock = threading.Lock()


@contextlib.contextmanager
def guarded_chat_templates() -> Iterator[None]:
    """Make the next Llama() built on this thread render the file's chat templates with
    Cove's budgeted sandbox.

    Llama() compiles every template in the file into llama-cpp-python's Jinja2ChatFormatter
    while it loads, and renders it at each chat completion; the class it uses is swapped for
    the length of one load, so both happen here, under the budget.
    """
    import llama_cpp.llama_chat_format as chat_format

    with _patch_lock:
        original = chat_format.Jinja2ChatFormatter
        chat_format.Jinja2ChatFormatter = _guarded_formatter_class()  # type: ignore[misc,assignment]
        try:
            yield
        finally:
            chat_format.Jinja2ChatFormatter = original  # type: ignore[misc]


_FORMATTER: type | None = None


def _guarded_formatter_class() -> type:
    global _FORMATTER
    if _FORMATTER is None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        class GuardedChatFormatter(Jinja2ChatFormatter):
            """llama-cpp-python's formatter, with its template compiled and rendered by
            BudgetedEnvironment."""

            def __init__(self, template: str, eos_token: str, bos_token: str,
                         add_generation_prompt: bool = True,
                         stop_token_ids: list[int] | None = None) -> None:
                self.template = template
                self.eos_token = eos_token
                self.bos_token = bos_token
                self.add_generation_prompt = add_generation_prompt
                self.stop_token_ids = set(stop_token_ids) if stop_token_ids is not None else None
                environment = BudgetedEnvironment()
                environment.filters["tojson"] = environment._guard_filter(self.tojson)
                # The parent's __call__ renders through `self._environment.render(...)`.
                self._environment = _BudgetedTemplate(  # type: ignore[assignment]
                    environment.from_string(template), template)

        _FORMATTER = GuardedChatFormatter
    return _FORMATTER


class _BudgetedTemplate:
    def __init__(self, compiled: Any, source: str = "") -> None:
        self._compiled = compiled
        self.source = source
        self.extra: dict[str, Any] = {}  # more variables for every render (a model's switches)

    def render(self, **variables: Any) -> str:
        return render_within_budget(self._compiled, {**self.extra, **variables})


def set_template_variables(formatter: Any, values: Mapping[str, Any]) -> bool:
    """Give a guarded formatter's template more variables (`enable_thinking`: False), those
    its template uses; False when it uses none of them (a built-in format, another model)."""
    template = getattr(formatter, "_environment", None)
    if not isinstance(template, _BudgetedTemplate):
        return False
    used = {name: value for name, value in values.items() if name in template.source}
    template.extra.update(used)
    return bool(used)
