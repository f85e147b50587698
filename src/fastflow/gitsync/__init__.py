"""PIPELINES_DIR as a git checkout: sync, GitHub App tokens, uv pre-heating."""
