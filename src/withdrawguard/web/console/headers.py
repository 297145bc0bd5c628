"""Security headers on every response of the worker's web server.

The Content-Security-Policy allows nothing by default; the console's inline scripts and
style are allowed by their SHA-256 hashes (they are constants), requests go only to this
server, forms post only here, and no site may frame a page. The other headers stop MIME
sniffing, referrers leaving, and caching of pages that hold customer data.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from aiohttp import web

from withdrawguard.web.console import html, scripts

INLINE_SCRIPTS = (scripts.OVERVIEW_ANALYST, scripts.OVERVIEW_VIEWER, scripts.CUSTOMER)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def security_headers() -> dict[str, str]:
    script_src = " ".join(_hash(s) for s in INLINE_SCRIPTS)
    csp = (
        "default-src 'none'; "
        f"script-src {script_src}; "
        f"style-src {_hash(html.CSS)}; "
        "connect-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def add_security_headers(response: web.StreamResponse) -> None:
    """Set each header the response does not set itself (a handler's own wins)."""
    if response.prepared:  # a streamed response has sent its headers already
        return
    for name, value in security_headers().items():
        response.headers.setdefault(name, value)
