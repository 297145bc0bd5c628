"""The one HTTP boundary of the HTTP channels: POST bytes, map failures to errors that
never carry the URL (a Slack webhook URL is itself a secret)."""

from __future__ import annotations

import aiohttp

from withdrawguard.notify.retry import DeliveryError, PermanentError, retryable_status

USER_AGENT = "withdrawguard-notifier/1"


class HttpClient:
    """Shares one aiohttp session; created on first use (inside the running loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                if resp.status < 300:
                    return
                detail = (await resp.text(errors="replace"))[:200]
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__} (no response)") from None
        detail = " ".join(detail.split())
        error = f"HTTP {resp.status}: {detail}" if detail else f"HTTP {resp.status}"
        if retryable_status(resp.status):
            raise DeliveryError(error)
        raise PermanentError(error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
