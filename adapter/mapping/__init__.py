"""Mapping: the engine that runs the declarative rules in `mappings/`."""
