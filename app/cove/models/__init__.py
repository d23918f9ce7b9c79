"""Finding, checking and (later) downloading model files; Qt-free."""
