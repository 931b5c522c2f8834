"""Benchmarks: `make bench` (= `.venv/bin/python -m bench`) prints figures; nothing here is a test.

python -m bench               every benchmark
python -m bench validation    profile validation against fhir.resources parsing
python -m bench measures      replay, betalningsansvar and outcome measures over a year of cases
"""
