"""HTTP side of the sandbox: the page, the synthetic charts, and tokens for the page's calls."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request, send_from_directory

from service.hooks import auth
from service.hooks.errors import ApiError
from service.hooks.http import json_response
from service.hooks.services import SERVICES
from service.sandbox.state import EXTENSION, patients
from service.synth.codes import DRUGS
from service.synth.hooks import SERVICE_FOR_HOOK, draft_order, prefetch_for

blueprint = Blueprint("sandbox", __name__, static_folder="static",
                      static_url_path="/sandbox/static")

TOKEN_LIFETIME_S = 60
# The page may only get tokens for the endpoints an EHR calls.
_CALLABLE = re.compile(r"^/cds-services(?:/([A-Za-z0-9._-]{1,64})(/feedback)?)?$")
# Everything the page needs is on this origin; inline script and style are never needed, so a
# markup injection that slipped past the renderer still could not run code.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@blueprint.before_request
def _host_is_ours() -> None:
    """DNS rebinding: a web page on another site can point its own host name at this machine
    and then call the sandbox from the victim's browser as a same-origin page. The browser
    still sends that site's name in Host, so the sandbox answers only to the names it is
    published under: the public URL's host, and loopback names."""
    public_url = current_app.config["LEUKEMIA_CDS_SETTINGS"].public_url
    public = (urlsplit(public_url).hostname or "") if public_url else ""
    if host_name(request.host) not in LOOPBACK_HOSTS | {public.lower()}:
        raise ApiError(421, "The sandbox answers only at its public URL's host or on "
                            "localhost (Host header not recognised).")


def host_name(host: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@blueprint.get("/")
def page() -> Response:
    return send_from_directory(blueprint.static_folder or "", "index.html", max_age=0)


@blueprint.get("/sandbox/api/patients")
def list_patients() -> Response:
    return json_response({
        "patients": [_summary(p) for p in patients().values()],
        "drugs": [{"id": d.id, "label": d.label} for d in DRUGS.values()],
        "services": SERVICE_FOR_HOOK,
        "notice": "Synthetic patients only. Not for clinical use.",
    })


def _summary(p: Any) -> dict[str, Any]:
    return {
        "id": p.patient_id,
        "name": p.display_name,
        "age": p.age,
        "sex": p.sex,
        "keyFacts": list(p.key_facts),
        "scenario": {"id": p.scenario.id, "title": p.scenario.title,
                     "summary": p.scenario.summary, "families": list(p.scenario.families),
                     "rules": list(p.scenario.rules)},
        "orders": list(p.scenario.orders),
        "resources": len(p.resources),
    }


def _patient(patient_id: str) -> Any:
    found = patients().get(patient_id)
    if found is None:
        raise ApiError(404, f"No synthetic patient {patient_id[:80]!r}.")
    return found


@blueprint.get("/sandbox/api/patients/<patient_id>/prefetch")
def patient_prefetch(patient_id: str) -> Response:
    """What the EHR prefetches for this patient, shaped as the service's templates ask."""
    return json_response(prefetch_for(_patient(patient_id).resources))


@blueprint.get("/sandbox/api/patients/<patient_id>/bundle")
def patient_bundle(patient_id: str) -> Response:
    return json_response(_patient(patient_id).bundle("collection"))


@blueprint.get("/sandbox/api/patients/<patient_id>/draft/<drug>")
def patient_draft(patient_id: str, drug: str) -> Response:
    patient = _patient(patient_id)
    if drug not in DRUGS:
        raise ApiError(404, f"No drug {drug[:40]!r} in the sandbox formulary.")
    return json_response(draft_order(drug, patient.patient_id))


@blueprint.post("/sandbox/api/token")
def token() -> Response:
    """A token for one call to `path`, signed by the sandbox key (60 s, fresh jti)."""
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send it
    path = body.get("path") if isinstance(body, dict) else None
    if not isinstance(path, str) or (match := _CALLABLE.match(path)) is None or (
            match.group(1) and match.group(1) not in SERVICES):
        raise ApiError(400, "path must be /cds-services, /cds-services/{id} or "
                            "/cds-services/{id}/feedback of this service.")
    authenticator = auth.authenticator()
    if not authenticator.enabled:
        answer = json_response({"token": None, "note": "authentication is off"})
    else:
        aud = authenticator.audience(path)
        signer = current_app.extensions[EXTENSION]
        answer = json_response({"token": signer.token(aud, lifetime_s=TOKEN_LIFETIME_S),
                                "aud": aud, "iss": signer.iss,
                                "expiresIn": TOKEN_LIFETIME_S})
    answer.headers["Cache-Control"] = "no-store"
    return answer
