"""Persistence: tables, engine, migrations and the repositories that own every query."""
