"""Benchmarks: `make bench` (= `python -m bench`) runs every `bench/bench_*.py` and prints each figure
beside the baseline measured in the same run."""
