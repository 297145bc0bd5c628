"""Integration fixtures live in `harness.py` (so tests can import its helpers by a
unique module name); this file makes them visible to pytest."""

from tests.integration.harness import bus, services, settings, worker
from tests.integration.secure_kafka import secure_kafka

__all__ = ["bus", "secure_kafka", "services", "settings", "worker"]
