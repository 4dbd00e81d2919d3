"""Alembic environment: runs on the connection the gateway hands it (see store/database.py)."""

from alembic import context

from voxgate.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
