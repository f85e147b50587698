"""Dispatchers decide when and where a PENDING run starts."""
