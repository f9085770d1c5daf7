"""Try leukemia-cds with the HL7 CDS Hooks reference sandbox, offline, in headless Chromium.

    python scripts/try_hl7_sandbox.py SANDBOX_CHECKOUT [--out DIR]

SANDBOX_CHECKOUT is a checkout of github `cds-hooks/sandbox` (Apache-2.0). The script builds
it if its `build/` has no bundle yet (`npm ci && npm run build`; Node.js and npm needed), then:

1. serves the built sandbox on 127.0.0.1;
2. serves one synthetic patient (`leukemia-cds synth`'s relapsed B-ALL) from a minimal FHIR
   server on 127.0.0.1: metadata, reads, searches by patient (with `_include` of the
   Medications the medication resources point at), CORS for the sandbox page;
3. starts `leukemia-cds serve` with the sandbox page off, trusting the sandbox's published test
   key (from the checkout's `keys/jwk-keypair.json`, public part only) for its issuer, with
   CORS for the sandbox's origin;
4. drives the sandbox in Debian's chromium (Playwright, never a downloaded browser): Patient
   View (patient-view), Rx View (order-select), Rx Sign (order-sign), then overrides the first
   patient-view card with a reason (feedback);
5. saves a screenshot of each step and the service's log in DIR (default ./sandbox-run).

Nothing here runs in CI (it needs the sandbox's source); see README "Trying it with the HL7
sandbox". Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.synth import generate  # noqa: E402

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Prefer",
        "Access-Control-Allow-Methods": "GET, OPTIONS"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_sandbox(checkout: Path) -> Path:
    build = checkout / "build"
    if not list(build.glob("*.js")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=checkout, check=True)
        subprocess.run(["npm", "run", "build"], cwd=checkout, check=True)
    return build


def serve_static(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_fhir(resources: list[dict[str, Any]], port: int) -> http.server.ThreadingHTTPServer:
    """A FHIR R4 server as small as the sandbox and the service need: one patient's record."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    medications = {m["id"]: m for m in by_type.get("Medication", [])}

    def bundle(entries: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                "entry": [{"resource": r, "search": {"mode": mode}} for r, mode in entries]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in CORS.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:
            self._send(204)

        def do_POST(self) -> None:  # the sandbox falls back to GET searches
            self._send(405, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported", "diagnostics": "use GET"}]})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            query = parse_qs(url.query)
            if parts == ["metadata"]:
                self._send(200, {"resourceType": "CapabilityStatement", "status": "active",
                                 "kind": "instance", "fhirVersion": "4.0.1",
                                 "format": ["json"], "date": "2026-12-01"})
            elif len(parts) == 2:
                found = next((r for r in by_type.get(parts[0], []) if r.get("id") == parts[1]),
                             None)
                self._send(200 if found else 404, found or {
                    "resourceType": "OperationOutcome", "issue": [
                        {"severity": "error", "code": "not-found"}]})
            elif len(parts) == 1:
                entries = [(r, "match") for r in by_type.get(parts[0], [])]
                if any(v.endswith(":medication") for v in query.get("_include", [])):
                    wanted = {str((r.get("medicationReference") or {}).get("reference", ""))
                              .removeprefix("Medication/") for r, _ in entries}
                    entries += [(medications[m], "include") for m in sorted(wanted)
                                if m in medications]
                self._send(200, bundle(entries))
            else:
                self._send(404, {"resourceType": "OperationOutcome", "issue": []})

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def leukemia_cds(port: int, sandbox_origin: str, keypair: Path, work: Path
                 ) -> Iterator[Path]:
    """`leukemia-cds serve` trusting the sandbox's public key; yields its log file."""
    public = {k: v for k, v in json.loads(keypair.read_text())["keys"][0].items()
              if k in {"kty", "crv", "x", "y", "kid", "alg", "use"}}  # never its private "d"
    public.setdefault("alg", "ES384")
    public.setdefault("use", "sig")
    clients = work / "clients.json"
    clients.write_text(json.dumps([{"iss": SANDBOX_ISS, "jwks": {"keys": [public]}}]))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")},
           "LEUKEMIA_CDS_SANDBOX": "off", "LEUKEMIA_CDS_CLIENTS": str(clients),
           "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "LEUKEMIA_CDS_CORS_ORIGINS": sandbox_origin,
           "LEUKEMIA_CDS_FHIR_HTTP_HOSTS": "127.0.0.1",
           "LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS": "127.0.0.1",
           "LEUKEMIA_CDS_DATA_DIR": str(work / "data"), "LEUKEMIA_CDS_LOG_LEVEL": "INFO"}
    log = work / "leukemia-cds.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                time.sleep(0.1)
            yield log
        finally:
            proc.terminate()
            proc.wait(10)


def choose_drug(page: Any, screen: str) -> None:
    """Open Rx View or Rx Sign and pick dasatinib: the sandbox's drug list holds common drugs
    only (none of this service's immunotherapies); dasatinib is a TKI for Ph+ disease."""
    page.get_by_role("button", name=screen).click()
    page.wait_for_timeout(1000)
    page.locator("input[name=medication-input]").fill("dasatinib")
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="dasatinib 100 MG Oral Tablet [Sprycel]").click()
    page.wait_for_timeout(1000)


def drive(page: Any, base: str, out: Path) -> list[str]:
    """Each hook in the sandbox's UI, with a screenshot; the service calls it made."""
    calls: list[str] = []
    page.on("response", lambda r: calls.append(f"{r.request.method} {r.url} -> {r.status}")
            if "/cds-services" in r.url else None)
    page.goto(base + "&hook=patient-view&screen=patient-view")
    page.wait_for_timeout(6000)
    page.screenshot(path=str(out / "1-patient-view.png"))
    page.screenshot(path=str(out / "1-patient-view-whole.png"), full_page=True)
    choose_drug(page, "Rx View")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(out / "2-order-select.png"))
    choose_drug(page, "Rx Sign")
    page.get_by_role("button", name="Sign Order").click()
    page.wait_for_timeout(4000)
    page.screenshot(path=str(out / "3-order-sign.png"))
    page.get_by_role("button", name="Patient View").click()
    page.wait_for_timeout(5000)
    menus = page.get_by_label("select dismiss reason")
    if menus.count():
        menus.first.click()
        page.get_by_role("menuitem").first.click()
        page.wait_for_timeout(2000)
    page.screenshot(path=str(out / "4-feedback.png"))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of cds-hooks/sandbox")
    parser.add_argument("--out", type=Path, default=Path("sandbox-run"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    build = build_sandbox(args.checkout.resolve())
    patient = generate("b-all-first-relapse-high-burden", size=60)
    ports = {name: free_port() for name in ("sandbox", "fhir", "service")}
    sandbox_origin = f"http://127.0.0.1:{ports['sandbox']}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        static = serve_static(build, ports["sandbox"])
        fhir = serve_fhir(list(patient.resources), ports["fhir"])
        with leukemia_cds(ports["service"], sandbox_origin,
                          args.checkout / "keys" / "jwk-keypair.json", work) as log, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            base = (f"{sandbox_origin}/?fhirServiceUrl=http://127.0.0.1:{ports['fhir']}"
                    f"&patientId={patient.patient_id}"
                    f"&serviceDiscoveryURL=http://127.0.0.1:{ports['service']}/cds-services")
            calls = drive(page, base, args.out)
            browser.close()
            shutil.copy(log, args.out / "leukemia-cds.log")
        static.shutdown()
        fhir.shutdown()
    (args.out / "calls.txt").write_text("\n".join(calls) + "\n")
    print("\n".join(calls))
    print(f"screenshots and the service's log in {args.out}/")


if __name__ == "__main__":
    main()
