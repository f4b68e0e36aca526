"""Alembic migrations: the only way the Autofund schema is created or changed."""
