"""The frozen app (make dist): starts and answers with no Python anywhere in reach, opens no
internet socket (strace), carries only the Qt parts Cove uses, and its .tar.gz installs.

These need dist/ from `make dist` (minutes; .ci/run builds it after `make test`). Without it
they are skipped, unless COVE_REQUIRE_FROZEN=1 (as in .ci/run), where a missing build fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from cove import __version__
from tests.e2e.test_offline import internet_calls

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
APP = DIST / "cove"


@pytest.fixture(scope="module")
def frozen() -> Path:
    executable = APP / "cove"
    if not executable.is_file():
        if os.environ.get("COVE_REQUIRE_FROZEN") == "1":
            pytest.fail("dist/cove/cove is missing: `make dist` did not build it")
        pytest.skip("no frozen app: run `make dist` first (CI does)")
    return executable


@pytest.fixture
def model_copy(tmp_path: Path, starter_model: Path) -> Path:
    """The starter model outside any Python environment, so nothing the app opens is one."""
    copy = tmp_path / "models" / starter_model.name
    copy.parent.mkdir()
    shutil.copyfile(starter_model, copy)
    return copy


def bare_env(home: Path) -> dict[str, str]:
    """What `env -i` leaves, plus a home: no PATH (so no python3 on it), no PYTHON*."""
    return {"HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
            "COVE_PASSPHRASE": "frozen smoke passphrase"}


def smoke(frozen: Path, model: Path, home: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, str(frozen), "--home", str(home / "cove"), "--smoke-test", "Say hello.",
         "--model", str(model), "--max-tokens", "16", "--seed", "7"],
        env=bare_env(home), capture_output=True, text=True, timeout=300, check=False)


def traced_smoke(frozen: Path, model: Path, home: Path,
                 calls: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The smoke run under strace, following children (the CPU check's, the probe's)."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing: run `make system-deps`")
    log = home / f"strace-{calls.replace(',', '-')}.log"
    result = smoke(frozen, model, home, strace, "-f", "-e", f"trace={calls}", "-o", str(log))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, log


def test_frozen_app_answers_with_no_python_in_reach(frozen: Path, model_copy: Path,
                                                    tmp_path: Path) -> None:
    result, log = traced_smoke(frozen, model_copy, tmp_path, "openat,execve")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["tokens"] > 0
    assert result.stdout.strip().splitlines()[0].strip()  # the reply's text
    # Nothing outside the bundle that belongs to a Python: no interpreter run, no venv, no
    # system site-packages or standard library read.
    python_paths = re.compile(r"/\.venv|site-packages|/usr/lib/python3|/usr/local/lib/python3|"
                              r'execve\("[^"]*python')
    opened = [line for line in log.read_text().splitlines()
              if python_paths.search(line) and "ENOENT" not in line]
    assert opened == [], "\n".join(opened[:10])


def test_frozen_app_opens_no_internet_socket(frozen: Path, model_copy: Path,
                                             tmp_path: Path) -> None:
    _result, log = traced_smoke(frozen, model_copy, tmp_path, "connect,sendto,sendmsg")
    assert log.stat().st_size > 0  # strace did record the run (D-Bus, logging, ...)
    internet = internet_calls(log)
    assert internet == [], "\n".join(internet[:10])


def test_bundle_holds_only_the_parts_cove_uses(frozen: Path) -> None:
    internal = APP / "_internal"
    names = [path.name for path in internal.rglob("*")]
    assert not [n for n in names if "Qt6Network" in n or "QtNetwork" in n]
    assert not [n for n in names if "WebEngine" in n or "Qt6Qml" in n or "Qt6Quick" in n]
    assert not [n for n in names if "hf_xet" in n]  # the downloader never uses Xet
    plugins = internal / "PySide6" / "Qt" / "plugins"
    platforms = {p.name for p in (plugins / "platforms").iterdir()}
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= platforms
    assert "libqvnc.so" not in platforms
    assert {p.name for p in (plugins / "imageformats").iterdir()} == {"libqsvg.so", "libqico.so"}
    libs = {p.name for p in (internal / "llama_cpp" / "lib").iterdir()}
    assert {"libllama.so", "libggml.so", "libggml-base.so"} <= libs
    # Cove's C sampling extension (the token loop), which the frozen app imports
    assert list((internal / "cove" / "inference").glob("_sampling.*.so")), names[:50]
    licences = json.loads((internal / "resources" / "licenses.json").read_text())
    assert any(row["name"].lower().startswith("pyside6") for row in licences)
    assert not any(row["name"].lower().replace("_", "-") == "hf-xet" for row in licences)
    if os.environ.get("COVE_REQUIRE_FROZEN") == "1":  # .ci/run's plain `make dist`
        assert not list(APP.rglob("*.gguf"))  # no model unless WITH_STARTER=1


def test_portable_build_ships_cpu_variants(frozen: Path) -> None:
    libs = [p.name for p in (APP / "_internal" / "llama_cpp" / "lib").iterdir()]
    variants = [name for name in libs if name.startswith("libggml-cpu-")]
    if os.environ.get("COVE_REQUIRE_FROZEN") != "1" and not variants:
        pytest.skip("this dist/ was built from a native llama.cpp (COVE_LLAMA_WHEEL)")
    assert len(variants) >= 3, libs  # one per x86-64 level at least


def glibc_needed(folder: Path) -> tuple[int, ...]:
    """The newest glibc symbol version any ELF file under `folder` asks for (the names of
    its version needs, e.g. GLIBC_2.34, sit in its dynamic string table)."""
    newest: tuple[int, ...] = (0,)
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as file:
            if file.read(4) != b"\x7fELF":
                continue
            data = file.read()
        for match in re.finditer(rb"\x00GLIBC_(\d+(?:\.\d+)+)\x00", data):
            newest = max(newest, tuple(int(part) for part in match.group(1).split(b".")))
    return newest


def test_bundle_needs_no_newer_glibc_than_the_readme_promises(frozen: Path) -> None:
    # PyInstaller takes glibc from the build machine: a build on a newer system than the
    # README names would not start on the systems it lists.
    promise = re.search(r"needs glibc (\d+)\.(\d+)", (ROOT / "README.md").read_text())
    assert promise, "the README's Install section names the oldest glibc the app runs on"
    floor = (int(promise.group(1)), int(promise.group(2)))
    install_notes = (ROOT / "packaging" / "linux" / "INSTALL.txt").read_text()
    assert f"glibc {floor[0]}.{floor[1]} or newer" in install_notes  # the tarball says the same
    needed = glibc_needed(APP)
    assert (2, 2) <= needed <= floor, f"the bundle needs glibc {needed}, the README says {floor}"


def test_tarball_unpacks_installs_and_starts(frozen: Path, tmp_path: Path) -> None:
    tarballs = sorted(DIST.glob(f"cove-{__version__}-linux-*.tar.gz"))
    assert tarballs, "make dist makes the .tar.gz beside dist/cove"
    with tarfile.open(tarballs[-1]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")
    top = next((tmp_path / "unpacked").iterdir())
    assert {"cove", "share", "install.sh", "INSTALL.txt"} <= {p.name for p in top.iterdir()}
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    installed = subprocess.run(["sh", str(top / "install.sh")], env=env, capture_output=True,
                               text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stderr
    launcher = home / ".local" / "bin" / "cove"
    version = subprocess.run([str(launcher), "--version"], env={"HOME": str(home)},
                             capture_output=True, text=True, timeout=60, check=False)
    assert version.stdout.strip() == f"Cove {__version__}", version.stderr
    removed = subprocess.run(["sh", str(top / "install.sh"), "--uninstall"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert removed.returncode == 0 and not launcher.exists()


def test_a_bundled_starter_answers_without_model_flag(frozen: Path, tmp_path: Path) -> None:
    if not list(APP.rglob("*.gguf")):
        pytest.skip("built without the starter model (make dist WITH_STARTER=1 bundles it)")
    result = subprocess.run([str(frozen), "--home", str(tmp_path / "cove"), "--smoke-test",
                             "Say hello.", "--max-tokens", "8"], env=bare_env(tmp_path),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["model"].startswith("SmolLM2")
