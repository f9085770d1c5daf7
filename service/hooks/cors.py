"""CORS for browser-based CDS clients: an explicit origin allow-list, empty by default.

Only listed origins get CORS headers; a preflight from any other origin is refused with 403 so
the integrator sees why the browser blocked the call.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.hooks.errors import error_response

_ALLOW_HEADERS = "Authorization, Content-Type"
_ALLOW_METHODS = "GET, POST, OPTIONS"


def install(app: Flask, origins: tuple[str, ...]) -> None:
    allowed = frozenset(origins)

    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS":
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            response = Response(status=204)
            response.headers["Allow"] = _ALLOW_METHODS
            return response
        if origin not in allowed:
            return error_response(
                403, f"Origin {origin} is not in LEUKEMIA_CDS_CORS_ORIGINS.",
            )
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    def _headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        return response
