"""PTB's Bot API transport over aiohttp instead of httpx.

The HTTP client is most of the bot's CPU per update (bench/README.md: about 2 ms per call
with httpx). aiohttp is already here for the web server, and its client does the same
call for a fraction of that. Same contract as PTB's `HTTPXRequest`: form-encoded
parameters, multipart when files go along, PTB's `TimedOut` and `NetworkError` on
failures, so PTB's retries and our delivery worker see no difference.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """One aiohttp session with at most `connection_pool_size` connections. A pool that is
    full for `pool_timeout` seconds fails as PTB's own does: the request was not sent."""

    __slots__ = ("_connect", "_limit", "_media_write", "_pool", "_read", "_session", "_write")

    def __init__(self, connection_pool_size: int = 256, *, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        self._limit = connection_pool_size
        self._read, self._write, self._connect = read_timeout, write_timeout, connect_timeout
        self._pool, self._media_write = pool_timeout, media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit),
                headers={"User-Agent": self.USER_AGENT}, skip_auto_headers=("Accept-Encoding",))

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        write = (self._media_write if files else self._write) if isinstance(write_timeout, DefaultValue) \
            else write_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp has no write timeout of its own: the body goes out within the whole call's
        # bound, the sum of the four; a server that goes silent is caught by `sock_read`.
        parts = (read, write, connect, pool)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if pool is None or connect is None else pool + connect, sock_connect=connect,
            sock_read=read)
        try:
            async with self._session.request(method, url, data=_body(request_data, files), timeout=timeout,
                                             allow_redirects=False) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # asyncio's and aiohttp's timeouts are both TimeoutError
            raise TimedOut from exc
        except aiohttp.ClientError as exc:  # the URL carries the token: it stays out of the message
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {str(exc).replace(url, '<url>')}") from exc


def _body(request_data: RequestData | None, files: bool) -> aiohttp.FormData | dict[str, str] | None:
    """As httpx sends it for PTB: form fields, or multipart with the files among them."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        file_name, content, *rest = part
        form.add_field(name, content, filename=file_name, content_type=rest[0] if rest else None)
    return form
