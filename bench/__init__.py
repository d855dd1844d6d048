"""`make bench`: Conveyor side by side with bare Celery on the same broker and settings."""
