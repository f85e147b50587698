"""Pipelines: discovery on disk and their metadata (pipeline.json)."""
