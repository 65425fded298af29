"""The llama.cpp engine: GGUF chat models on the CPU through llama-cpp-python's C API.

`model.py` loads the GGUF (weights memory-mapped, as llama.cpp keeps them: quantized),
`batching.py` runs continuous batching over one llama.cpp context (one decode call per step for
every running reply), `backend.py` is the `ChatBackend` the services use.
"""
