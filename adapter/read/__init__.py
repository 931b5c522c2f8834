"""The read side: the cases this adapter holds as its readers see them — case views and the
timeline, FHIR search and read, the dashboard's figures and the metrics' gauges. Nothing here
knows HTTP (adapter/api/ serves it) or decides who may read what (adapter/security/access.py)."""
