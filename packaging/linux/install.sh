#!/bin/sh
# Installs Cove for the current user in the XDG folders, or removes exactly what it installed.
#
#   sh install.sh [--app DIR] [--share DIR]   install (DIR defaults beside this script)
#   sh install.sh --uninstall                 remove what the last install put in place
#
# The app folder (PyInstaller's dist/cove) is copied to $XDG_DATA_HOME/io.github.cove.Cove/app,
# a launcher goes to ~/.local/bin/cove, the desktop entry, metainfo and icons to
# $XDG_DATA_HOME. Every file written is listed in the app folder's installed-files.txt, which
# --uninstall reads: nothing else is touched. Cove's own data (history, models, settings)
# lives elsewhere and is never removed here.
set -eu
APP_ID=io.github.cove.Cove
here=$(cd "$(dirname "$0")" && pwd)
app_src="$here/cove"
share_src="$here/share"
action=install
while [ $# -gt 0 ]; do
    case "$1" in
        --app) app_src=$2; shift 2 ;;
        --share) share_src=$2; shift 2 ;;
        --uninstall) action=uninstall; shift ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
: "${HOME:?HOME is not set}"
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
bin_home=${XDG_BIN_HOME:-$HOME/.local/bin}
target="$data_home/$APP_ID"
manifest="$target/installed-files.txt"

refresh_caches() {
    # Menus and icon themes notice the change sooner with these; neither is required.
    command -v update-desktop-database >/dev/null 2>&1 \
        && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 \
        && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" 2>/dev/null || true
}

uninstall() {
    [ -f "$manifest" ] || { echo "Cove is not installed in $target"; return 0; }
    while IFS= read -r path; do
        [ -n "$path" ] && rm -f "$path"
    done < "$manifest"
    rm -rf "$target"
    refresh_caches
    echo "Removed Cove from $target and its launcher, menu entry and icons."
}

if [ "$action" = uninstall ]; then
    uninstall
    exit 0
fi

if [ ! -x "$app_src/cove" ]; then
    echo "install.sh: no built app at $app_src (run make dist first)" >&2
    exit 1
fi
[ -d "$share_src/applications" ] || { echo "install.sh: no $share_src/applications" >&2; exit 1; }
[ -f "$manifest" ] && uninstall >/dev/null
launcher="$bin_home/cove"
if [ -e "$launcher" ]; then
    echo "install.sh: $launcher exists and is not Cove's; remove it first" >&2
    exit 1
fi
mkdir -p "$target" "$bin_home"
cp -R "$app_src" "$target/app"
: > "$manifest"
printf '#!/bin/sh\nexec "%s/app/cove" "$@"\n' "$target" > "$launcher"
chmod 755 "$launcher"
echo "$launcher" >> "$manifest"

# Desktop entry (Exec made absolute: ~/.local/bin is not on every session's PATH), metainfo
# and icons, each listed as it lands.
for file in $(cd "$share_src" && find applications metainfo icons -type f | sort); do
    dest="$data_home/$file"
    mkdir -p "$(dirname "$dest")"
    case "$file" in
        *.desktop) sed "s|^Exec=cove|Exec=$launcher|" "$share_src/$file" > "$dest" ;;
        *) cp "$share_src/$file" "$dest" ;;
    esac
    chmod 644 "$dest"
    echo "$dest" >> "$manifest"
done
refresh_caches
echo "Installed Cove in $target; start it from the menu or with $launcher"
