"""Adapters: the outside world behind small interfaces (metrics, notification channels)."""
