"""`python -m cove --smoke-test` as a user or CI runs it: a real process, window and model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CANARY = "zebra-canary-4417"


def run_cove(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("COVE_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "cove", "--home", str(home), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def test_smoke_mode_prints_reply_and_stats(tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    result = run_cove(home, "--smoke-test", f"Repeat this word: {CANARY}",
                      "--max-tokens", "32", "--seed", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    stats = json.loads(lines[-1])
    assert set(stats) == {"model", "tokens", "seconds", "tokens_per_second", "ttft_seconds"}
    assert stats["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert 0 < stats["tokens"] <= 32
    assert stats["tokens_per_second"] > 0
    assert "\n".join(lines[:-1]).strip(), "the reply itself was printed"
    # Honours --home: the log is there, and it holds no prompt text.
    log_text = (home / "logs" / "cove.log").read_text()
    assert "starting" in log_text
    assert CANARY not in log_text


def test_smoke_mode_with_explicit_model(tmp_path: Path, starter_model: Path) -> None:
    result = run_cove(tmp_path / "home", "--smoke-test", "Hi", "--model", str(starter_model),
                      "--max-tokens", "8", "--seed", "2")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["tokens"] > 0


def test_missing_model_fails_readably(tmp_path: Path) -> None:
    result = run_cove(tmp_path / "home", "--smoke-test", "Hi",
                      "--model", str(tmp_path / "missing.gguf"), timeout=60)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_garbage_model_fails_readably(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(os.urandom(4096))
    result = run_cove(tmp_path / "home", "--smoke-test", "Hi", "--model", str(garbage),
                      timeout=60)
    assert result.returncode == 1
    assert "not a GGUF model file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cove_home_environment_is_honoured(tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "env-home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_HOME=str(home))
    result = subprocess.run(
        [sys.executable, "-m", "cove", "--smoke-test", "Hi", "--max-tokens", "4"],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (home / "logs" / "cove.log").is_file()


def test_the_cpu_is_checked_once_then_both_models_answer(
        tmp_path: Path, starter_model: Path, gemma_model: Path) -> None:
    home = tmp_path / "home"
    first = run_cove(home, "--smoke-test", "Hi", "--max-tokens", "8", "--seed", "1")
    assert first.returncode == 0, first.stderr
    record = json.loads((home / "cache" / "cpu-check.json").read_text(encoding="utf-8"))
    [(_key, entry)] = record["checks"].items()
    assert entry["outcome"] in ("checked", "fallback")
    log_file = home / "logs" / "cove.log"
    first_log = log_file.read_text()
    assert f"cpu check: {entry['outcome']}" in first_log
    extra = "on" if entry["extra_buffers"] else "off"
    assert f"extra buffers {extra}, " in first_log

    second = run_cove(home, "--smoke-test", "Hi", "--model", str(gemma_model),
                      "--max-tokens", "8", "--seed", "1")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["tokens"] > 0
    second_log = log_file.read_text()[len(first_log):]
    assert "cpu check:" not in second_log  # recorded: no child at this start
    assert "loaded gemma" in second_log.lower() and f"extra buffers {extra}, " in second_log


def test_fast_kernels_forced_off_still_answer(tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_FAST_KERNELS="off")
    env.pop("COVE_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "cove", "--home", str(home), "--smoke-test", "Hi",
         "--max-tokens", "8", "--seed", "3"],
        capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr
    log_text = (home / "logs" / "cove.log").read_text()
    assert "extra buffers off, " in log_text and "cpu check:" not in log_text
    assert not (home / "cache" / "cpu-check.json").exists()


def test_a_reply_that_could_not_be_saved_ends_with_its_own_exit_code(
        tmp_path: Path, starter_model: Path) -> None:
    """A full disk while saving: the reply is printed, stderr says why it was not kept, and
    the exit code is 2 (0 would tell a script that its text was saved)."""
    code = (
        "import errno, sys\n"
        "from cove.storage.store import ConversationStore\n"
        "def full(*args, **kwargs):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "ConversationStore.append_message = full\n"
        "from cove.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE="a smoke passphrase")
    env.pop("COVE_HOME", None)
    result = subprocess.run(
        [sys.executable, "-c", code, "--home", str(tmp_path / "home"), "--smoke-test", "Hi",
         "--max-tokens", "8", "--seed", "1"],
        capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 2, result.stderr
    assert "could not save to disk (No space left on device)" in result.stderr
    assert "the reply was not saved" in result.stderr
    assert "No such message" not in result.stderr  # one cause, said once per save
    assert json.loads(result.stdout.strip().splitlines()[-1])["tokens"] > 0


def test_a_wrong_passphrase_is_said_and_changes_the_exit_code(
        tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COVE_PASSPHRASE="the right one")
    env.pop("COVE_HOME", None)
    first = subprocess.run([sys.executable, "-m", "cove", "--home", str(home), "--smoke-test",
                            "Hi", "--max-tokens", "4"], capture_output=True, text=True,
                           timeout=240, env=env)
    assert first.returncode == 0, first.stderr
    env["COVE_PASSPHRASE"] = "a wrong one"
    second = subprocess.run([sys.executable, "-m", "cove", "--home", str(home),
                             "--smoke-test", "Hi", "--max-tokens", "4"], capture_output=True,
                            text=True, timeout=240, env=env)
    assert second.returncode == 2, second.stderr
    assert "will not be saved" in second.stderr and "not right" in second.stderr


def test_a_closed_stdout_ends_the_run_quietly(tmp_path: Path, starter_model: Path) -> None:
    """`cove --smoke-test … | head -1`: once the reader has gone, Cove ends, no traceback."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("COVE_HOME", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "cove", "--home", str(tmp_path / "home"), "--smoke-test",
         "Hi", "--max-tokens", "8", "--timeout", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert app.stdout is not None and app.stderr is not None
    app.stdout.close()  # the reader goes away before the reply is written
    try:
        code = app.wait(timeout=120)  # not the 200 s smoke time-out
    finally:
        if app.poll() is None:
            app.kill()
    stderr = app.stderr.read().decode()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
