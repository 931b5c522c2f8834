"""Validation: FHIR structure, profiles from `profiles/`, Swedish identifier rules."""
