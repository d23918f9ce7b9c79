#!/bin/sh
# Installs the system libraries Qt needs (offscreen, and for a window on X11) when one is
# missing.
# Runs apt-get only as root on Debian-like systems; elsewhere it prints what to install.
set -u
missing=""
for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
            libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 \
            libglib-2.0.so.0:libglib2.0-0 libxcb-cursor.so.0:libxcb-cursor0 \
            libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1 \
            libxkbcommon-x11.so.0:libxkbcommon-x11-0; do
    lib=${pair%%:*}
    package=${pair#*:}
    if command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
        missing="$missing $package"
    fi
done
# strace lets the test suite prove that no native code opens a network connection.
command -v strace >/dev/null 2>&1 || missing="$missing strace"
# The desktop entry's and AppStream metainfo's validators (tests/packaging).
command -v desktop-file-validate >/dev/null 2>&1 || missing="$missing desktop-file-utils"
command -v appstreamcli >/dev/null 2>&1 || missing="$missing appstream"
# A real Secret Service (GNOME Keyring on a private session bus) for
# tests/e2e/test_secret_service.py; only where this script installs (root, as in CI), so a
# desktop with another keyring is not asked for GNOME's.
if [ "$(id -u)" = 0 ]; then
    command -v gnome-keyring-daemon >/dev/null 2>&1 || missing="$missing gnome-keyring"
    command -v dbus-run-session >/dev/null 2>&1 || missing="$missing dbus"
fi
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list 2>/dev/null | head -n 1)" ]; then
    missing="$missing fonts-dejavu-core"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system libraries for Qt:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
    echo "Qt needs these system packages:$missing (install them with your package manager)" >&2
fi
