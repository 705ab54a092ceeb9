"""Directory put first on PYTHONPATH by `eventlens instrument`: its `sitecustomize` sets up tracing."""
