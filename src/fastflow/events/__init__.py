"""Run events: one ordered stream per run, persisted to its log file and fanned out live."""
