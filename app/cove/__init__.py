"""Cove: private chat and note drafting with language models that run on your own computer."""

__version__ = "0.1.0"
APP_NAME = "Cove"
# The desktop entry, metainfo and icon name (packaging/linux), and Wayland's app id.
APP_ID = "io.github.cove.Cove"
