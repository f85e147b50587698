"""Retention: finished runs past LOG_RETENTION_RUNS / LOG_RETENTION_DAYS are removed with
their logs, metrics and artifacts; leftover work folders go too. Running runs are never touched."""
