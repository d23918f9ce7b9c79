"""What this Cove is made of, for the About dialog: versions, llama.cpp's build and CPU variant,
and the licences of the bundled parts and of the installed models.

The bundled packages' licences come from their metadata. A frozen Cove carries no package
metadata, so `make dist` (build.spec) writes the same list into the bundle as
resources/licenses.json, and a frozen Cove reads that.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

LICENSES_FILE = "licenses.json"
_VARIANT = re.compile(r"libggml-cpu(?:-([A-Za-z0-9_]+))?\.(?:so|dylib|dll)")

QT_NOTICE = (
    "Qt and Qt for Python (PySide6) are used under the GNU Lesser General Public License "
    "v3 (LGPL-3.0-only). Cove links them dynamically: they ship as separate shared "
    "libraries in the app folder (_internal/PySide6 and _internal/shiboken6). To use your "
    "own build of Qt 6 (same minor version), replace those libraries with yours, or start "
    "Cove from source (make run) against your PySide6. Qt's source: "
    "https://download.qt.io/official_releases/qt/ — PySide6's: "
    "https://download.qt.io/official_releases/QtForPython/."
)
LLAMA_NOTICE = (
    "llama.cpp and ggml: MIT License, Copyright (c) 2023-2026 The ggml authors. "
    "Bundled through llama-cpp-python (MIT License, Copyright (c) 2023 Andrei Betlen)."
)


@dataclass(frozen=True)
class PackageLicence:
    """One bundled Python distribution and the licence its metadata names."""

    name: str
    version: str
    licence: str


def _licence_of(dist: metadata.Distribution) -> str:
    meta = dist.metadata

    def field(name: str) -> str:
        values = meta.get_all(name) or []
        return str(values[0]) if values else ""

    expression = field("License-Expression")
    if expression:
        return expression
    classifiers = [c.rsplit("::", 1)[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::") and c.count("::") >= 2]
    if classifiers:
        return ", ".join(classifiers)
    text = field("License").strip()
    # Some packages paste the whole licence text into the field: keep its first line.
    first = text.splitlines()[0].strip() if text else ""
    return first if first and len(first) <= 80 else "see the package's licence file"


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement line names, or None for one behind an extra."""
    if ";" in requirement and "extra ==" in requirement.split(";", 1)[1]:
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    return match.group(0) if match else None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_licences(root: str = "cove",
                     left_out: Collection[str] = ()) -> list[PackageLicence]:
    """Every distribution Cove needs at run time (its requirements, followed down, no extras),
    with its licence, sorted by name. Read from the installed packages' metadata. `left_out`:
    distributions a build does not bundle (and so their own requirements neither)."""
    seen: dict[str, PackageLicence] = {_normal(name): PackageLicence(name, "", "")
                                       for name in left_out}
    waiting = [root]
    while waiting:
        name = waiting.pop()
        if _normal(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed is not bundled either
        seen[_normal(name)] = PackageLicence(dist.metadata["Name"], dist.version,
                                             _licence_of(dist))
        for requirement in dist.requires or []:
            needed = _requirement_name(requirement)
            if needed is not None:
                waiting.append(needed)
    for name in (root, *left_out):  # Cove itself is named separately
        seen.pop(_normal(name), None)
    return sorted(seen.values(), key=lambda package: package.name.lower())


def write_licences(path: Path, left_out: Collection[str] = ()) -> Path:
    """Record package_licences() as JSON, for a frozen Cove (build.spec calls this)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(p) for p in package_licences(left_out=left_out)],
                               indent=1), encoding="utf-8")
    return path


def bundled_licences(resources: Path | None = None) -> list[PackageLicence]:
    """The list written at build time when there is one (a frozen Cove), else the metadata."""
    if resources is None:
        from cove.paths import resources_dir

        resources = resources_dir()
    recorded = resources / LICENSES_FILE
    if getattr(sys, "frozen", False) or recorded.is_file():
        try:
            raw = json.loads(recorded.read_text(encoding="utf-8"))
            return [PackageLicence(str(item["name"]), str(item["version"]),
                                   str(item["licence"])) for item in raw]
        except (OSError, ValueError, KeyError, TypeError):
            return []
    return package_licences()


@dataclass(frozen=True)
class LlamaBuild:
    """Which llama.cpp this process runs."""

    version: str  # llama-cpp-python's
    cpu_variant: str  # e.g. "haswell" (a portable build picks one at run time) or "native"
    system_info: str  # llama.cpp's own line: the instruction sets it was built to use

    def describe(self) -> str:
        if self.cpu_variant == "native":
            variant = "one CPU back end built for the machine that compiled it"
        elif self.cpu_variant:
            variant = f"the {self.cpu_variant} CPU variant, picked for this processor at start"
        else:
            variant = "no CPU back end loaded yet (it loads with the first model)"
        return f"llama-cpp-python {self.version}, {variant}"


def loaded_cpu_variant(maps: Path = Path("/proc/self/maps")) -> str:
    """The ggml CPU library mapped into this process: a portable build's variant name
    (libggml-cpu-haswell.so -> "haswell"), "native" for a single built-in one, "" for none
    (or where /proc is not there to ask)."""
    try:
        text = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    variants = {match.group(1) or "native" for match in _VARIANT.finditer(text)}
    return ", ".join(sorted(variants))


def token_loop() -> str:
    """Where replies' token loop runs: in Cove's C extension, or in Python without it."""
    try:
        import llama_cpp.llama_cpp as lib

        from cove.inference.decode import compiled_loop_available

        compiled = compiled_loop_available(lib)
    except Exception:  # a broken native library: the About dialog still opens
        return ""
    if compiled:
        return "Token loop: compiled (Cove's C sampling extension)."
    return ("Token loop: Python. Cove's C sampling extension was not built (installing it "
            "needs a C compiler and Python's headers), so replies come a few percent slower.")


def llama_build() -> LlamaBuild:
    """Imports llama_cpp (already in memory once a model has loaded)."""
    try:
        import llama_cpp
    except Exception:  # a broken native library: the About dialog still opens
        return LlamaBuild("not available", "", "")
    try:
        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    except Exception:
        info = ""
    return LlamaBuild(str(getattr(llama_cpp, "__version__", "unknown")),
                      loaded_cpu_variant(), info)


@dataclass(frozen=True)
class ModelLicence:
    name: str
    licence: str


def model_licences(models: Iterable[object],
                   catalogue_licences: dict[str, str] | None = None) -> list[ModelLicence]:
    """Each installed model's licence: the one its GGUF header states, else its catalogue
    entry's, else a sentence saying neither says."""
    catalogue_licences = catalogue_licences or {}
    found = []
    for model in models:
        header = getattr(model, "metadata", {}) or {}
        licence = header.get("license") if isinstance(header, dict) else None
        if not licence:
            licence = catalogue_licences.get(str(getattr(model, "catalogue_id", "") or ""))
        found.append(ModelLicence(str(getattr(model, "name", "?")),
                                  str(licence) if licence else
                                  "not stated in the file: check where it came from"))
    return found
