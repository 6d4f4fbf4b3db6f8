"""Responses and the two error shapes Kustomer answers with."""

from __future__ import annotations

from typing import Any

from .util import dumps


class Response:
    __slots__ = ("body", "ctype", "headers", "records", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        records: int = 0,
        ctype: str = "application/json; charset=utf-8",
    ):
        self.status, self.body, self.headers, self.records = status, body, headers or {}, records
        self.ctype = ctype


def jsonapi_error(
    status: int, code: str, title: str, detail: str, source: dict[str, str] | None = None
) -> Response:
    err: dict[str, Any] = {"status": str(status), "code": code, "title": title, "detail": detail}
    if source:
        err["source"] = source
    return Response(status, dumps({"errors": [err]}))


def simple_error(status: int, code: str, message: str) -> Response:
    """The other documented error shape: ``{errors: [{code, message, meta}]}``."""
    return Response(status, dumps({"errors": [{"code": code, "message": message, "meta": {}}]}))


def not_found(detail: str = "Resource not found") -> Response:
    return jsonapi_error(404, "not_found", "Not Found", detail)


def bad_request(
    detail: str, code: str = "bad_request", source: dict[str, str] | None = None
) -> Response:
    return jsonapi_error(400, code, "Bad Request", detail, source)


class HTTPError(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
