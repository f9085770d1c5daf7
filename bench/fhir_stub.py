"""A stand-in FHIR server for the benchmark, in its own process so that its CPU does not count
against the service: serves pre-serialised search results with configurable delays.

    python bench/fhir_stub.py PORT DIR

DIR holds `<Type>.json` files (the last path segment before `?`, e.g. `Observation.json`, or the
patient id for a read) and `delays.json`, `{"Observation": 0.08, ...}` in seconds, read on every
request so the benchmark can change it between runs.
"""

from __future__ import annotations

import http.server
import json
import sys
import time
from pathlib import Path


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    bodies = {p.stem: p.read_bytes() for p in folder.glob("*.json") if p.stem != "delays"}
    empty = b'{"resourceType": "Bundle", "type": "searchset"}'

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real FHIR server offers
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stall

        def do_GET(self) -> None:
            kind = self.path.split("?")[0].rstrip("/").split("/")[-1]
            delays = json.loads((folder / "delays.json").read_text())
            time.sleep(float(delays.get(kind, 0.0)))
            body = bodies.get(kind, empty)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
