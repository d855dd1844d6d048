"""The notifications REST API, mounted under /api/notifications/ (views.py says who may do what)."""
