"""Benchmarks: they print figures, they assert nothing (targets live here, never in timed tests).

make bench                    every benchmark (= python -m bench)
python -m bench.validation    profile validation of a 30-entry message beside fhir.resources parsing
python -m bench.delivery      accepted messages per second and delivery lag, SQLite and PostgreSQL
python bench/bench_measures.py  replay, betalningsansvar and outcome measures over a year of cases
"""
