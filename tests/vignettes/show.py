"""Print the cards a reviewed vignette gets, for writing and checking review vignettes.

    python -m tests.vignettes.show p14-blin-grade3 [order-select]   (ids from review/*.toml)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from service.app import create_app
from service.config import Settings
from tests.conftest import PUBLIC_URL, SERVICE_FOR_HOOK, TEST_EHR, SigningClient, write_clients
from tests.test_review_findings import REVIEWED
from tests.test_vignettes import EXTENSION
from tests.vignettes.build import VIGNETTES, request


def main(argv: list[str]) -> None:
    wanted, hook = argv[0], (argv[1] if len(argv) > 1 else None)
    vignette = next(v for v in [*REVIEWED, *VIGNETTES] if v["id"] == wanted)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LEUKEMIA_CDS_DATA_DIR": tmp, "LEUKEMIA_CDS_PUBLIC_URL": PUBLIC_URL,
               "LEUKEMIA_CDS_CLIENTS": str(write_clients(Path(tmp) / "c.json", TEST_EHR))}
        app = create_app(Settings.from_env(env))
        app.test_client_class = SigningClient
        body = request(vignette, hook)
        url = f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}"
        response = app.test_client().post(url, json=body)
        cards = response.get_json()["cards"]
        for c in cards:
            ext = c["extension"][EXTENSION]
            print(f"[{c['indicator']}] {c['summary']}\n  ids: {ext['ids']}")
            print("  " + c.get("detail", "").replace("\n", "\n  ")[:3000])
            for s in c.get("suggestions", []):
                print("  suggestion:", s["label"], [a["type"] for a in s["actions"]])
            print()
        app.extensions["leukemia_cds.store"].close()


if __name__ == "__main__":
    main(sys.argv[1:])
