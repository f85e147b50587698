"""Executors run one run somewhere (a local process, a container) and report its outcome."""
