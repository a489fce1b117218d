"""Alembic's entry point: the store hands it a connection in a transaction (:mod:`..migrate`);
nothing is read from an alembic.ini."""

from alembic import context

from kennisbank.server.db import schema

context.configure(connection=context.config.attributes["connection"], target_metadata=schema.metadata)
context.run_migrations()
