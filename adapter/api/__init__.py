"""Thin FastAPI routers: FHIR endpoints, health."""
