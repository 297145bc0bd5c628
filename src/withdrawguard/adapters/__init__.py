"""Adapters: the outside world behind small interfaces, each with a real implementation
(and, for unit tests only, a small fake in tests/unit): Kafka topic administration and
security options, consumer-group offsets, Redis connections and topology, the hold
registry's Redis store, notification channels and their Redis stores, Prometheus
metrics. Adapters never import the streaming layer, the web layer or the worker."""
