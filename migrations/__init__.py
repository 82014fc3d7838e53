"""Alembic migrations of the releasebot schema, shipped inside the package (see storage.schema)."""
