"""One fake :class:`attestation.fetch.Fetcher` for every test that must not touch the network.

It answers GETs from a table of pages (URL -> result), records every URL it was asked for,
checks the bounds every caller must pass, can be switched offline, and refuses POST.
"""

from __future__ import annotations

from collections.abc import Mapping

from attestation.errors import Code, FetchError
from attestation.fetch import BaseFetcher, FetchResult, HttpRequest


class FakeFetcher(BaseFetcher):
    """Serves ``pages``; an unknown URL gets ``default``, or fails the test when there is none.

    ``urls`` lists every GET in order (also those made while ``offline``, which raise
    FETCH_FAILED). Every request must carry a positive timeout and a body cap of at most
    ``max_bytes_at_most``. URLs pass through the real :func:`attestation.fetch.check_url`.
    """

    def __init__(
        self,
        pages: Mapping[str, FetchResult | bytes] | None = None,
        *,
        default: FetchResult | None = None,
        max_bytes_at_most: int = 1 << 30,
    ) -> None:
        self.pages: dict[str, FetchResult | bytes] = dict(pages or {})
        self.default = default
        self.max_bytes_at_most = max_bytes_at_most
        self.urls: list[str] = []
        self.offline = False

    def answer(self, url: str) -> FetchResult:
        """What a GET of ``url`` returns (bytes in ``pages`` mean HTTP 200 with that body)."""
        page = self.pages.get(url, self.default)
        if page is None:
            raise AssertionError(f"unexpected GET {url}")
        return FetchResult(200, {}, page) if isinstance(page, bytes) else page

    async def _request(self, request: HttpRequest) -> FetchResult:
        if request.method != "GET":
            raise AssertionError(f"unexpected {request.method} {request.url}")
        self.urls.append(request.url)
        assert 0 < request.max_bytes <= self.max_bytes_at_most and request.timeout > 0
        if self.offline:
            raise FetchError(Code.FETCH_FAILED, "offline")
        return self.answer(request.url)


NOT_FOUND = FetchResult(404, {}, b"")

__all__ = ["NOT_FOUND", "FakeFetcher"]
