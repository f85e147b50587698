"""Artifacts: files runs write under FASTFLOW_ARTIFACTS_DIR, kept in the object store."""
