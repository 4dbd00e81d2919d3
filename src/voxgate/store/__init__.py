"""Persistence: SQLAlchemy 2 tables and Alembic migrations; SQLite or PostgreSQL."""
