"""Alembic's environment script for lamina's and applications' revisions."""

from lamina.persistence.migrations.environment import run_migrations

run_migrations()
