"""The Twilio REST client (the library's async one), pointed at `TWILIO_API_BASE_URL`
when set: the tests' fake Twilio, or a proxy."""

from __future__ import annotations

from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_ORIGIN = "https://api.twilio.com"


class _RebasedHttpClient(AsyncTwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN):]
        return await super().request(method, url, *args, **kwargs)


def make_client(account_sid: str, auth_token: str, base_url: str | None, timeout: float) -> Client:
    """Must be called with the event loop running (the HTTP session belongs to it)."""
    return Client(account_sid, auth_token, http_client=_RebasedHttpClient(base_url, timeout))


async def close_client(client: Client) -> None:
    http = client.http_client
    if isinstance(http, AsyncTwilioHttpClient):
        await http.close()
