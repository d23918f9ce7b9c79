"""Running GGUF models: the llama.cpp wrapper and the worker thread that owns it."""

import os

# llama.cpp's CPU backend uses OpenMP, whose idle threads spin by default. When anything else
# wants the same cores (another app, a build, a second model), spinning threads starve the
# ones doing work: on a 2-core machine under load replies fell to about 1 token/s, against
# 35 with passive waiting. libgomp reads this when llama.cpp's library loads, so it is set
# before anything here imports llama_cpp; an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
