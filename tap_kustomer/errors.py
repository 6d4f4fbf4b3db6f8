"""Exceptions the tap raises. Every message is written for the person running the tap."""

from __future__ import annotations

from typing import Any


class TapKustomerError(Exception):
    """Base class: the message is shown to the user as one CRITICAL line."""

    exit_code = 1


class ConfigError(TapKustomerError):
    """Bad input (config, catalog or state): the run ends before any request."""

    exit_code = 2


class KustomerAPIError(TapKustomerError):
    """Kustomer answered with an error the tap cannot recover from."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class BadRequestError(KustomerAPIError):
    """400/422: the request was refused as malformed."""


class AuthError(KustomerAPIError):
    """401: the key is invalid, expired or from another region."""


class ForbiddenError(KustomerAPIError):
    """403: the key is valid but lacks a role."""


class NotFoundError(KustomerAPIError):
    """404: unknown path or id."""


class RetryableError(KustomerAPIError):
    """5xx, connection failures, timeouts, non-JSON bodies: worth another try."""


class RateLimitedError(RetryableError):
    """429: the request budget is spent until the window resets."""

    headers: Any = None  # the response's headers: they name the budget and its reset


class RateLimitWaitExceeded(TapKustomerError):
    """429s kept one budget closed for longer than max_rate_limit_wait."""


class PagingError(TapKustomerError):
    """The API's answers do not allow exact paging (out of order, endless links, …)."""
