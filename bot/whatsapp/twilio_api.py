"""The Twilio REST client (the library's async one), pointed at `TWILIO_API_BASE_URL`
when set: the tests' fake Twilio, or a proxy. A 429 or 503 with `Retry-After` is raised as
`RetryAfter` (the library's exception drops the headers), so the sender can wait as told."""

from __future__ import annotations

from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_ORIGIN = "https://api.twilio.com"
MAX_RETRY_AFTER = 3600.0


class RetryAfter(Exception):
    def __init__(self, status: int, seconds: float) -> None:
        super().__init__(f"twilio {status}, retry after {seconds:g}s")
        self.status = status
        self.seconds = seconds


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class _RebasedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio has no type information: its classes are Any
    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN):]
        response = await super().request(method, url, *args, **kwargs)
        if response.status_code in (429, 503):
            headers = response.headers or {}
            seconds = retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))
            if seconds is not None:
                raise RetryAfter(response.status_code, seconds)
        return response


def make_client(account_sid: str, auth_token: str, base_url: str | None, timeout: float) -> Client:
    """Must be called with the event loop running (the HTTP session belongs to it)."""
    return Client(account_sid, auth_token, http_client=_RebasedHttpClient(base_url, timeout))


async def close_client(client: Client) -> None:
    http = client.http_client
    if isinstance(http, AsyncTwilioHttpClient):
        await http.close()
