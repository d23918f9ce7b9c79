"""System libraries Qt needs but cannot bundle, checked before the window opens.

Qt 6.5 and later need libxcb-cursor for a window on X11. Without it Qt only says it "could
not load the Qt platform plugin xcb" and aborts; Cove says which package to install instead.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

XCB_CURSOR = "libxcb-cursor.so.0"
XCB_CURSOR_MESSAGE = (
    "Cove needs the system library libxcb-cursor to open its window on X11. Install it "
    "(Debian or Ubuntu: sudo apt install libxcb-cursor0; Fedora: sudo dnf install "
    "xcb-util-cursor; Arch: sudo pacman -S xcb-util-cursor) and start Cove again, or start "
    "it in a Wayland session."
)


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will pick its X11 (xcb) plugin for the window."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].startswith("xcb")
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def display_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
                    loads: Callable[[str], bool] | None = None) -> str | None:
    """A sentence saying what to install before the window can open, or None."""
    if uses_xcb(environ, platform) and not (loads or _loads)(XCB_CURSOR):
        return XCB_CURSOR_MESSAGE
    return None
