"""The benchmark scripts import their helpers as `common` and `report`: benchmarks/ on the path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
ScriptWriter = Callable[[str, str], Path]
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


@pytest.fixture
def write_script(tmp_path: Path) -> ScriptWriter:
    """write_script(name, body): a small Python script in tmp_path, its body dedented."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    return write
