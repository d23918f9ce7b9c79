"""A model whose chat template loops for ever, as a person meets it: the app says so and ends."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.test_smoke_mode import run_cove
from tests.unit.models.retemplate import with_chat_template

LOOPING_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
)


def test_a_looping_chat_template_fails_the_reply_with_a_sentence(
    tmp_path: Path, starter_model: Path
) -> None:
    hostile = with_chat_template(starter_model, tmp_path / "loops.gguf", LOOPING_TEMPLATE)
    started = time.monotonic()
    result = run_cove(tmp_path / "home", "--smoke-test", "Hi", "--model", str(hostile),
                      "--max-tokens", "8", timeout=180)
    assert time.monotonic() - started < 120
    assert result.returncode == 1
    # Cove tries a file it has not seen in a separate process first; either that or the
    # reply says what happened.
    assert "loops.gguf took too long to render" in result.stderr or (
        "The model's chat template took too long to render" in result.stderr)
    assert "choose another model." in result.stderr
    assert "QThread: Destroyed" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
