"""fastflow: a self-hosted orchestrator for Python pipelines."""

__version__ = "0.1.0"
