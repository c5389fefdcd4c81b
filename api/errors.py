"""Errors answer `{"error": "<message naming the field>"}` with a 4xx (502 for a failing source), never a 500."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.models import ErrorBody

log = logging.getLogger("datahub.api")
BODY_UNPARSABLE = "There was an error parsing the body"  # FastAPI's 400 for a body json.loads cannot read


MAX_MESSAGE = 400  # characters: an error never echoes a huge value back


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def short(value: object, limit: int = 40) -> str:
    """A value as an error may quote it: its repr, cut to a short prefix."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[0]


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return 400, "body: not valid JSON"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    message = f"{_field(tuple(first.get('loc', ())))}: {msg}"
    return 422, message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "\u2026"


def rename_fields(message: str, aliases: dict[str, str]) -> str:
    """`end_time: must be after start_time` -> `time_to: must be after time_from`, `series[1]: ...` ->
    `attrs[1]: ...`: every field name in the head; in the text only the unmistakable `*_time` names."""
    head, sep, rest = message.partition(": ")
    if not sep:
        return message
    renamed = re.sub(r"[A-Za-z_]+", lambda m: aliases.get(m.group(0), m.group(0)), head)
    rest = re.sub(r"\b(start_time|end_time)\b", lambda m: aliases.get(m.group(0), m.group(0)), rest)
    return f"{renamed}: {rest}"


def document_errors(schema: dict[str, Any]) -> None:
    """FastAPI documents its 422 as `HTTPValidationError` (`{"detail": [...]}`); this API answers every error as
    `{"error": "..."}`: the schema says so, so clients and contract tests see the real shape."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operation in (op for item in schema.get("paths", {}).values() for op in item.values()):
        for code, response in operation.get("responses", {}).items():
            content = response.get("content", {}).get("application/json")
            if code[:1] in "45" and content and "HTTPValidationError" in str(content.get("schema", "")):
                content["schema"] = ref
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = validation_message(exc)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 400 and message == BODY_UNPARSABLE:  # e.g. not UTF-8, or nested too deep
            message = "body: not valid JSON"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_errors(FastAPI.openapi(app))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)
