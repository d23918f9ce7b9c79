"""Tests of the notes workspace."""
