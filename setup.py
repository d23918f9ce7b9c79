"""The one part of Cove that setup.py, not pyproject.toml, declares: a C extension.

inference/_sampling.c is one sampling step in C (a top-k cut over the raw logits before
llama.cpp's sampler chain). It is optional: without a C compiler Cove still installs and
runs, and inference/decode.py samples with llama_sampler_sample (slower with large
vocabularies). Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("cove.inference._sampling", ["app/cove/inference/_sampling.c"],
                             optional=True)])
