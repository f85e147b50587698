"""Shared test helpers: real services, started once per session."""
