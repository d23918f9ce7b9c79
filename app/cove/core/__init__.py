"""Qt-free domain: conversations, messages and the context budget."""
