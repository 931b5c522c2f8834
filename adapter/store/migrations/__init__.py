"""Alembic migrations of the store's schema (env.py, versions/), shipped with the package."""
