"""Write python3-requirements.json (flatpak-pip-generator's format) from a pip report.

    pip install --dry-run --ignore-installed --report report.json --only-binary=:all: \\
        --python-version 3.12 --platform manylinux_2_28_x86_64 \\
        --platform manylinux_2_17_x86_64 --target /tmp/t -r packaging/flatpak/requirements.txt
    python packaging/flatpak/pip_sources.py report.json

The sources are files in packaging/flatpak/wheels/, pinned by sha256, which `pip download`
fetches from the package index pip is configured with (packaging/flatpak/README.md), so no
address is written here; run it again after changing requirements.txt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEELS = "wheels"  # beside the manifest; filled by `pip download` (README.md)


def module(report: dict[str, object]) -> dict[str, object]:
    installs = report["install"]
    assert isinstance(installs, list)
    names, sources = [], []
    for item in installs:
        name = item["metadata"]["name"]
        info = item["download_info"]
        names.append(name)
        filename = str(info["url"]).rsplit("/", 1)[-1]
        sources.append({"type": "file", "path": f"{WHEELS}/{filename}",
                        "sha256": info["archive_info"]["hashes"]["sha256"]})
    install = ("pip3 install --verbose --exists-action=i --no-index --find-links=\"file://${PWD}\" "
               "--prefix=${FLATPAK_DEST} " + " ".join(f'"{n}"' for n in sorted(names))
               + " --no-build-isolation")
    return {"name": "python3-requirements", "buildsystem": "simple",
            "build-commands": [install], "sources": sources}


if __name__ == "__main__":
    report = json.loads(Path(sys.argv[1]).read_text())
    target = HERE / "python3-requirements.json"
    target.write_text(json.dumps(module(report), indent=4) + "\n")
    print(f"wrote {target}")
