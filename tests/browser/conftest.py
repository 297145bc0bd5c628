"""Browser tests that need a worker use the integration layer's live services."""

from tests.integration.harness import services

__all__ = ["services"]
