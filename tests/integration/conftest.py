"""Integration fixtures live in `harness.py` (so tests can import its helpers by a
unique module name); this file makes them visible to pytest."""

from tests.integration.harness import bus, services, settings, worker
from tests.integration.secure_kafka import acl_kafka, secure_kafka
from tests.integration.secure_redis import secure_redis

__all__ = ["acl_kafka", "bus", "secure_kafka", "secure_redis", "services", "settings", "worker"]
