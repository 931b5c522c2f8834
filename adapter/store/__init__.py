"""Persistence through one schema: SQLite by default, PostgreSQL for several replicas."""
