"""Alembic's scripts for the API database: one history for PostgreSQL and SQLite."""
