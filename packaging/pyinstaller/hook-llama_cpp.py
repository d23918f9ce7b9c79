"""PyInstaller hook: llama-cpp-python loads libllama and ggml with ctypes, which PyInstaller's
analysis cannot see (llama-cpp-python issues 1475 and 1565: "Shared library with base name
'llama' not found"). Collect every shared library in the package, including a portable
build's per-CPU ggml variants (libggml-cpu-haswell.so, ...), where llama_cpp looks for them.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")
datas = collect_data_files("llama_cpp")
