"""Qt-free note drafting actions."""
