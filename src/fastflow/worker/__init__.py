"""`fastflow worker`: a Celery worker that executes runs the server dispatches."""
