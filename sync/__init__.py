"""Runs connectors into the warehouse: settings, database, migrations, the sync engine, scheduling."""
