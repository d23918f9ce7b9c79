"""No core files: a crash must not write memory, with decrypted conversations in it, to disk."""

from __future__ import annotations

import logging


def no_core_dumps() -> None:
    """Set this process's core file limit to 0 (inherited by its children). A no-op where
    there are no core files (Windows)."""
    try:
        import resource
    except ImportError:
        return
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (OSError, ValueError):
        logging.getLogger(__name__).warning("core dumps could not be turned off")
