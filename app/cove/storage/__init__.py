"""Encrypted storage: AES-GCM rows, key wrapping, SQLite (lands with encrypted history)."""
