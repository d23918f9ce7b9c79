"""cove.platform_check: the missing X11 library is named before Qt gives up."""

from __future__ import annotations

import os
import subprocess
import sys

from cove.platform_check import XCB_CURSOR, XCB_CURSOR_MESSAGE, display_problem, uses_xcb


def test_x11_sessions_need_xcb_cursor_wayland_and_offscreen_do_not() -> None:
    assert uses_xcb({"DISPLAY": ":0"}, "linux")
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0"}, "darwin")


def test_a_missing_library_is_named_with_the_package_to_install() -> None:
    asked: list[str] = []

    def missing(name: str) -> bool:
        asked.append(name)
        return False

    problem = display_problem({"DISPLAY": ":0"}, "linux", missing)
    assert problem == XCB_CURSOR_MESSAGE and "apt install libxcb-cursor0" in problem
    assert asked == [XCB_CURSOR]
    assert display_problem({"DISPLAY": ":0"}, "linux", lambda _name: True) is None


def test_this_machine_has_the_library() -> None:
    # make test installs libxcb-cursor0 (packaging/system-deps.sh): the real loader finds it.
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux") is None


def test_cove_says_so_and_exits_before_qt_aborts(tmp_path: object) -> None:
    code = ("import sys, cove.platform_check as check\n"
            "check._loads = lambda name: False\n"
            "from cove.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":99")
    result = subprocess.run([sys.executable, "-c", code, "--home", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == XCB_CURSOR_MESSAGE
