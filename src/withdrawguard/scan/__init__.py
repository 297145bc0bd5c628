"""The history scan: the streaming detector's engine driven over past events.

`withdrawguard scan` reads events from files or from the Kafka input topics, spills them
to a temporary SQLite database, and plays each customer's history in event-time order
through the same `Engine` and `CrossReference` the worker uses. Nothing happens at import.
"""
