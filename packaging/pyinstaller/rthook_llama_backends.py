"""Load llama.cpp's CPU back end before anything uses it (a PyInstaller runtime hook; the
Flatpak runs the same file from a .pth at every Python start).

A portable llama.cpp (GGML_BACKEND_DL=ON, GGML_CPU_ALL_VARIANTS=ON) builds one ggml CPU
library per instruction-set level and links none of them in: until one is loaded, llama.cpp
says "no backends are loaded" and no model loads. ggml_backend_load_all_from_path scores each
variant against this CPU and loads the best, as llama.cpp's own releases do. A build with a
single built-in CPU back end has no variant files, and nothing happens here.
"""

import ctypes
import importlib.util
import sys
from pathlib import Path


def _llama_lib_folder() -> Path | None:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "llama_cpp" / "lib"
    spec = importlib.util.find_spec("llama_cpp")  # finds it without importing it
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "lib"


def _load_ggml_backends() -> None:
    folder = _llama_lib_folder()
    if folder is None or not any(folder.glob("*ggml-cpu-*")):
        return
    names = {"darwin": "libggml.dylib", "win32": "ggml.dll"}
    library = folder / names.get(sys.platform, "libggml.so")
    ggml = ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path.restype = None
    ggml.ggml_backend_load_all_from_path(str(folder).encode())


_load_ggml_backends()
