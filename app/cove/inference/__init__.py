"""Running GGUF models: the llama.cpp wrapper and the worker thread that owns it.

A note on OpenMP, which llama.cpp's CPU backend uses: its idle threads spin briefly by
default. On an idle 2-core machine that is fastest (about 80-110 tokens/s for the starter
model, against 35-45 with OMP_WAIT_POLICY=PASSIVE), but when other programs compete for the
same cores, spinning threads starve the working ones and replies can fall to a few tokens/s,
while PASSIVE holds at 35-45. Cove keeps the library default; on a busy machine with few
cores, starting Cove with OMP_WAIT_POLICY=PASSIVE set is the better trade (see README).
"""
