"""HTTP transport shared by the HTTP-like source kinds (`http`, `ngsi_ld`): written once.

- One pooled httpx client per source, timeouts always set, redirects never followed.
- Requests go only to the scheme, host and port the source was configured with (`same_origin`).
- Transport errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter (tenacity),
  honouring `Retry-After` up to `MAX_RETRY_AFTER` seconds; a `rate_limit` spaces requests (pyrate-limiter).
- Inside an API request everything is bounded by its deadline (`resources.deadline`): each attempt's timeout
  is cut to what is left, a backoff or `Retry-After` that would outlast it fails at once, and a cancelled
  request (its client went away) stops between attempts and pages.
- Errors and log lines name the source, the page and the HTTP status; never a URL, a query or a header value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pyrate_limiter import Duration, Limiter, MonotonicClock, Rate
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from resources import deadline
from resources.sources.base import SourceError, SourceTimeout

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
USER_AGENT = "datahub-timeseries"
DEFAULT_PORTS = {"http": 80, "https": 443}
_RETRY_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _wait_for(seconds: float) -> None:
    deadline.current().wait(seconds)


# Every backoff sleep goes through here; tests replace it to run without waiting.
_sleep: Callable[[float], None] = _wait_for


class Transient(Exception):
    """A failed attempt worth repeating: a retryable status (with its `Retry-After`) or a transport error."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; ValueError for anything else."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parsed.host:
        raise ValueError("not an http(s) URL")
    return scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[scheme]


class Transport:
    """GET requests of one source, retried, throttled and bounded as the module says."""

    def __init__(self, source: str, *, timeout: float, retries: int, rate_limit: float | None) -> None:
        self.source, self.timeout, self.retries, self.rate_limit = source, timeout, retries, rate_limit
        self._client: httpx.Client | None = None
        self._limiter: Limiter | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def follow(self, current: str, link: str, first: str, page: int) -> str:
        """The absolute URL of a next-page link, refused unless it stays on the first page's origin."""
        try:
            target = str(httpx.URL(current).join(link))
            same = origin(target) == origin(first)
        except (httpx.InvalidURL, ValueError):
            raise SourceError(f"source {self.source!r}: page {page}: the 'next' link is not a URL") from None
        if not same:
            raise SourceError(f"source {self.source!r}: page {page}: the 'next' link points outside the "
                              "source's scheme, host and port; not followed")
        return target

    def get(self, url: str, headers: Mapping[str, str], page: int, *, accept: Callable[[int], bool] | None = None
            ) -> httpx.Response:
        """The response of a successful attempt (2xx, or what `accept` allows); SourceError otherwise."""
        attempts = self.retries + 1
        limit = deadline.current()

        def attempt() -> httpx.Response:
            limit.check()
            self._throttle()
            timeout = limit.bound(self.timeout)
            if timeout <= 0:
                limit.check()
            try:
                response = self._http().get(url, headers=dict(headers), timeout=timeout)
            except _RETRY_TRANSPORT as exc:
                raise Transient(f"request failed ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise SourceError(
                    f"source {self.source!r}: page {page}: request failed ({type(exc).__name__})"
                ) from None
            status = response.status_code
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                response.close()
                raise Transient(f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip(), retry_after)
            return response

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("source %r: page %d: %s; retrying in %.1f s (attempt %d of %d)", self.source, page,
                        getattr(exc, "what", "failed"), wait, state.attempt_number + 1, attempts)

        last: list[str] = []

        def remember(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            last[:] = [getattr(exc, "what", "failed")]

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=retry_wait,
            retry=retry_if_exception_type(Transient),
            sleep=lambda seconds: _pause(limit, seconds),
            before_sleep=before_sleep,
            after=remember,
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except Transient as exc:
            raise SourceError(
                f"source {self.source!r}: page {page}: {exc.what} after {attempts} attempt(s)", retryable=True
            ) from None
        except deadline.DeadlineExceeded as exc:
            after = f" after {last[0]}" if last else ""
            raise SourceTimeout(f"source {self.source!r}: page {page}: {exc}{after}", cancelled=exc.cancelled
                                ) from None
        status = response.status_code
        if not (200 <= status < 300 or (accept is not None and accept(status))):
            response.close()
            reason = httpx.codes.get_reason_phrase(status)
            extra = " (redirects are not followed)" if 300 <= status < 400 else ""
            raise SourceError(f"source {self.source!r}: page {page}: HTTP {status} {reason}".rstrip() + extra)
        return response

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                            headers={"User-Agent": USER_AGENT})
            return self._client

    def _throttle(self) -> None:
        if self.rate_limit is None:
            return
        with self._lock:
            if self._limiter is None:
                interval_ms = max(1, round(1000 / self.rate_limit))
                self._limiter = Limiter(Rate(1, interval_ms), clock=MonotonicClock(), max_delay=Duration.HOUR,
                                        retry_until_max_delay=True, buffer_ms=5)
            limiter = self._limiter
        limiter.try_acquire(self.source)


def _pause(limit: deadline.Deadline, seconds: float) -> None:
    """A backoff or `Retry-After` wait: refused at once when it would outlast the request's deadline."""
    left = limit.remaining()
    if limit.cancelled or (left is not None and seconds > left):
        raise deadline.DeadlineExceeded(limit.seconds, limit.cancelled)
    _sleep(seconds)


def retry_after_seconds(header: str | None) -> float | None:
    """`Retry-After` in seconds (a number of seconds or an HTTP-date); None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


_backoff = wait_exponential_jitter(initial=BACKOFF_INITIAL, max=BACKOFF_MAX, jitter=BACKOFF_INITIAL)


def retry_wait(state: RetryCallState) -> float:
    """The server's `Retry-After` (capped at MAX_RETRY_AFTER) when it gave one, else backoff with jitter."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, Transient) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return float(_backoff(state))


class _RedactUrls(logging.Filter):
    """httpx logs each request's full URL at INFO: keep only its scheme, host and port there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                f"{a.scheme}://{a.netloc.decode('ascii', 'replace')}/..." if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


if not any(isinstance(f, _RedactUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactUrls())

