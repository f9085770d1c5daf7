"""The floor: the same Flask and gunicorn answering a route that only reads and parses the body.

Every figure the benchmark reports is also shown as a ratio to this, so the numbers say how much
the service adds over the cheapest possible handler of the same request on the same machine.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service import jsonio

app = Flask("leukemia_cds_floor")


@app.post("/cds-services/<service_id>")
def parse_only(service_id: str) -> Response:
    body = jsonio.loads(request.get_data(cache=False))
    answer = {"cards": [], "keys": len(body)}
    return Response(jsonio.dumps(answer), mimetype="application/json")
