"""Cove: private chat and note drafting with language models that run on your own computer."""

__version__ = "0.1.0"
APP_NAME = "Cove"
