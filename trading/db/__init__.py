"""The database: one schema module, engines and sessions, and Alembic migrations."""
