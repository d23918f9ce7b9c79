"""Running GGUF models: the llama.cpp wrapper and the worker thread that owns it."""
