"""Browser tests that need a worker use the integration layer's live services; every
module that drives Chromium shares the way it is launched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_report_renders import ARGS, chromium_or_fail
from tests.integration.harness import services

__all__ = ["browser", "services"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (`make browser` installs it)."""
    executable = chromium_or_fail()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(executable), args=ARGS)
        yield b
        b.close()
