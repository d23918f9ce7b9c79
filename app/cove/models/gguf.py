"""A cheap sanity check of a GGUF file's header, before llama.cpp is allowed to read it."""

from __future__ import annotations

import struct
from pathlib import Path

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
# Far above any real model (the largest have a few thousand tensors and a few hundred keys),
# far below what would make a parser allocate gigabytes.
MAX_TENSORS = 1_000_000
MAX_KEYS = 100_000


class ModelFileError(Exception):
    """A model file that cannot be used; the message says why and what to do."""


def check_gguf_file(path: str | Path) -> Path:
    """Raise ModelFileError unless `path` is a readable file that starts like a sound GGUF."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"The model file {path} does not exist. Check the path.")
    if not path.is_file():
        raise ModelFileError(f"{path} is a folder, not a model file. Choose a .gguf file.")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(24)
    except OSError as error:
        raise ModelFileError(
            f"Cove cannot read the model file {path} ({error.strerror or error}). "
            "Check its permissions."
        ) from error
    if len(header) < 24 or header[:4] != GGUF_MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model file. Cove runs models in the GGUF format "
            "(files ending in .gguf)."
        )
    version, tensors, keys = struct.unpack("<IQQ", header[4:24])
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{path.name} uses GGUF version {version}, which Cove cannot read "
            f"(it reads versions {', '.join(map(str, SUPPORTED_VERSIONS))})."
        )
    if tensors > MAX_TENSORS or keys > MAX_KEYS or tensors + keys > size:
        raise ModelFileError(
            f"{path.name} is damaged: its header claims {tensors} tensors and {keys} "
            "metadata keys, more than the file can hold. Download it again."
        )
    return path
