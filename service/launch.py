"""The `leukemia-cds` command's entry point, before anything else is imported.

`serve` runs gevent workers, and gevent's monkey-patching must come before any module imports
ssl or socket (Flask does, through Werkzeug): patched later, a worker's HTTPS calls (FHIR
servers, client key sets) can fail or block the whole worker. The other subcommands need no
patching and get none.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        from gevent import monkey

        monkey.patch_all()
    from service.cli import main as cli_main

    return cli_main(args)
