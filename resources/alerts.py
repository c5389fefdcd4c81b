"""Alerts to a webhook (`DATAHUB_ALERT_WEBHOOK_URL`): one JSON document per POST, retried.

Transport errors, timeouts, 429 and 5xx are retried as the HTTP sources retry (`resources.sources.transport`:
exponential backoff with jitter, `Retry-After` honoured up to a minute). The URL is a secret (it often carries a
token): no error message or log line names it (httpx's request log shows scheme, host and port only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from resources.sources.transport import Transient, retry_after_seconds, retry_wait

ATTEMPTS = 5
TIMEOUT = 10.0


class AlertError(Exception):
    """The alert webhook did not take an alert (after the retries)."""


class Webhook:
    """Posts alerts to one URL; `sleep` is what the backoff waits with (tests pass a no-op)."""

    def __init__(self, url: SecretStr, *, attempts: int = ATTEMPTS, timeout: float = TIMEOUT,
                 sleep: Callable[[float], None] | None = None) -> None:
        self._url, self.attempts, self.timeout = url, attempts, timeout
        self._sleep = sleep or time.sleep

    def post(self, alert: Mapping[str, Any]) -> None:
        """Deliver one alert; AlertError (naming the status, never the URL) when every attempt failed."""
        def attempt(client: httpx.Client) -> None:
            try:
                response = client.post(self._url.get_secret_value(), json=dict(alert))
            except httpx.HTTPError as exc:
                raise Transient(f"request failed ({type(exc).__name__})") from None
            status = response.status_code
            if status == 429 or status >= 500:
                raise Transient(f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After")))
            if status >= 400:
                raise AlertError(f"the alert webhook refused the alert: HTTP {status}")

        retrying = Retrying(stop=stop_after_attempt(self.attempts), wait=retry_wait, reraise=True,
                            retry=retry_if_exception_type(Transient), sleep=self._sleep)
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            try:
                retrying(attempt, client)
            except Transient as exc:
                raise AlertError(f"the alert webhook did not take the alert after {self.attempts} attempts: {exc}"
                                 ) from None


def from_settings() -> Webhook | None:
    """The webhook the settings name (read at each call, so a changed setting needs no reload), or None."""
    from resources.settings import Settings

    url = Settings().alert_webhook_url
    return Webhook(url) if url is not None and url.get_secret_value() else None


def ui_link(path: str) -> str:
    """A link into the Dagster UI (`DATAHUB_DAGSTER_UI_URL`)."""
    from resources.settings import Settings

    return Settings().dagster_ui_url.rstrip("/") + path
