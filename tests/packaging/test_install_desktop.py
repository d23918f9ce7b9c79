"""packaging/linux/install.sh (make install-desktop / uninstall-desktop) on a throw-away
XDG home: what it installs, that the launcher starts the app, and that uninstalling removes
exactly that."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "packaging" / "linux" / "install.sh"
APP_ID = "io.github.cove.Cove"


def fake_build(folder: Path) -> Path:
    """A stand-in for dist/cove: an executable `cove` that says what it was given. The real
    frozen app is exercised by tests/packaging/test_frozen.py."""
    app = folder / "cove"
    (app / "_internal").mkdir(parents=True)
    (app / "_internal" / "library.so").write_bytes(b"\0" * 16)
    launcher = app / "cove"
    launcher.write_text('#!/bin/sh\necho "frozen cove $*"\n')
    launcher.chmod(0o755)
    return app


def run_install(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"],
           "XDG_DATA_HOME": str(home / ".local" / "share")}
    return subprocess.run(["sh", str(INSTALL), *args], env=env, capture_output=True,
                          text=True, check=False, timeout=60)


def tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")
            if path.is_file() or path.is_symlink()}


def test_install_puts_app_entry_icons_and_launcher_in_xdg_folders(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    app = fake_build(tmp_path / "dist")
    result = run_install(home, "--app", str(app))
    assert result.returncode == 0, result.stderr
    share = home / ".local" / "share"
    launcher = home / ".local" / "bin" / "cove"
    entry = share / "applications" / f"{APP_ID}.desktop"
    assert (share / APP_ID / "app" / "cove").is_file()
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert f"Exec={launcher}\n" in entry.read_text()
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.fail("desktop-file-validate is missing: run `make system-deps`")
    check = subprocess.run([validator, str(entry)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    started = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                             check=True)
    assert started.stdout.strip() == "frozen cove --version"


def test_uninstall_removes_exactly_what_install_added(tmp_path: Path) -> None:
    home = tmp_path / "home"
    share = home / ".local" / "share"
    # Things that were there before, including Cove's own data: all must survive.
    keep = [share / "applications" / "other.desktop", home / ".local" / "bin" / "other-tool",
            share / "Cove" / "data" / "cove.db", share / "icons" / "hicolor" / "48x48" / "apps"
            / "other.png"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep")
    before = tree(home)
    assert run_install(home, "--app", str(fake_build(tmp_path / "dist"))).returncode == 0
    assert tree(home) > before
    result = run_install(home, "--uninstall")
    assert result.returncode == 0, result.stderr
    after = tree(home)
    # The menu's and icon theme's caches (update-desktop-database, gtk-update-icon-cache,
    # where they exist) belong to the desktop, not to Cove.
    caches = ("mimeinfo.cache", "icon-theme.cache")
    assert {path for path in after if not path.endswith(caches)} == before
    assert not (share / APP_ID).exists()


def test_reinstall_replaces_the_old_copy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    app = fake_build(tmp_path / "dist")
    assert run_install(home, "--app", str(app)).returncode == 0
    (app / "_internal" / "library.so").unlink()
    (app / "_internal" / "new.so").write_bytes(b"new")
    assert run_install(home, "--app", str(app)).returncode == 0
    installed = home / ".local" / "share" / APP_ID / "app" / "_internal"
    assert sorted(path.name for path in installed.iterdir()) == ["new.so"]


def test_refuses_to_replace_someone_elses_launcher(tmp_path: Path) -> None:
    home = tmp_path / "home"
    other = home / ".local" / "bin" / "cove"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho another cove\n")
    result = run_install(home, "--app", str(fake_build(tmp_path / "dist")))
    assert result.returncode == 1
    assert "not Cove's" in result.stderr
    assert other.read_text() == "#!/bin/sh\necho another cove\n"
    assert not (home / ".local" / "share" / APP_ID).exists()


def test_says_what_to_do_without_a_build(tmp_path: Path) -> None:
    result = run_install(tmp_path, "--app", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "make dist" in result.stderr


def test_make_targets_install_and_uninstall(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    app = fake_build(tmp_path / "dist")
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}  # XDG_DATA_HOME from HOME
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is missing")
    installed = subprocess.run([make, "-s", "-C", str(ROOT), "install-desktop",
                                f"DIST_APP={app}"], env=env, capture_output=True, text=True,
                               timeout=60, check=False)
    assert installed.returncode == 0, installed.stderr
    launcher = home / ".local" / "bin" / "cove"
    assert (home / ".local" / "share" / "applications" / f"{APP_ID}.desktop").is_file()
    assert launcher.is_file()
    removed = subprocess.run([make, "-s", "-C", str(ROOT), "uninstall-desktop"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert removed.returncode == 0, removed.stderr
    assert not launcher.exists()
    assert not (home / ".local" / "share" / APP_ID).exists()
