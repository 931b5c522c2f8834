"""Benchmarks: `make bench` or `python -m bench.<name>`; they print figures, they assert nothing."""
