"""Encrypted storage: AES-GCM rows, key wrapping (keyring or passphrase), SQLite, search."""
