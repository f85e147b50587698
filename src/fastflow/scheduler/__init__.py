"""Persistent cron/interval schedules that start runs (APScheduler 3 in the server's loop)."""
