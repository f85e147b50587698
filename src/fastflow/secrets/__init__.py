"""Secrets and stored parameters: encrypted at rest, injected into runs, masked in output."""
