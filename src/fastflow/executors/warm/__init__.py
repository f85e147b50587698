"""Warm starts: runs forked from an interpreter that already imported the pipeline's modules."""
