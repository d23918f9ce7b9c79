"""Tests of the Qt-free notes package."""
