"""The PyInstaller spec's own functions: what it bundles and which icon each OS gets."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spec() -> dict[str, object]:
    return runpy.run_path(str(ROOT / "build.spec"), init_globals={"SPECPATH": str(ROOT)})


def test_bundles_every_resource_file() -> None:
    pairs = spec()["data_files"]()  # type: ignore[operator]
    sources = {Path(source).relative_to(ROOT).as_posix() for source, _dest in pairs}
    assert "resources/icons/cove.png" in sources
    assert all(dest.startswith("resources") for _source, dest in pairs)


def test_icon_per_platform() -> None:
    icon_for = spec()["icon_for"]
    assert icon_for("win32").endswith("cove.ico")  # type: ignore[operator]
    assert icon_for("linux").endswith("cove.png")  # type: ignore[operator]
    assert Path(icon_for("darwin")).is_file()  # type: ignore[operator]


def test_qt_parts_kept_are_the_ones_cove_uses() -> None:
    keep = spec()["keep_qt_file"]
    plugins = "PySide6/Qt/plugins"
    for kept in (f"{plugins}/platforms/libqxcb.so", f"{plugins}/platforms/libqwayland.so",
                 f"{plugins}/platforms/libqoffscreen.so", f"{plugins}/imageformats/libqsvg.so",
                 f"{plugins}/iconengines/libqsvgicon.so", "PySide6/Qt/lib/libQt6Widgets.so.6",
                 "PySide6/Qt/translations/qtbase_de.qm", "llama_cpp/lib/libllama.so"):
        assert keep(kept), kept  # type: ignore[operator]
    for dropped in ("libQt6Network.so.6", "PySide6/Qt/lib/libQt6Network.so.6",
                    "PySide6/QtNetwork.abi3.so", f"{plugins}/platforms/libqvnc.so",
                    f"{plugins}/platforms/libqeglfs.so",
                    f"{plugins}/generic/libqtuiotouchplugin.so",
                    f"{plugins}/imageformats/libqjpeg.so", f"{plugins}/tls/libqopensslbackend.so",
                    "PySide6/Qt/lib/libQt6Qml.so.6", "PySide6/Qt/translations/qtdeclarative_de.qm"):
        assert not keep(dropped), dropped  # type: ignore[operator]


def test_no_model_is_bundled_unless_asked() -> None:
    bundles_starter = spec()["bundles_starter"]
    assert bundles_starter({}) is False  # type: ignore[operator]
    assert bundles_starter({"COVE_DIST_STARTER": "0"}) is False  # type: ignore[operator]
    assert bundles_starter({"COVE_DIST_STARTER": "1"}) is True  # type: ignore[operator]


def test_macos_info_plist_names_the_app_and_its_version() -> None:
    import cove

    plist = spec()["info_plist"](cove.__version__)  # type: ignore[operator]
    assert plist["CFBundleIdentifier"] == cove.APP_ID
    version = spec()["cove_version"]()  # type: ignore[operator]
    assert plist["CFBundleShortVersionString"] == version == cove.__version__
    assert plist["NSHighResolutionCapable"] is True
