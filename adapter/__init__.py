"""LUS adapter: FHIR R4 integration for Swedish discharge planning (lag 2017:612)."""

__version__ = "0.1.0"
