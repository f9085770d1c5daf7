"""Every clinical rule, one decorated function each, grouped by clinical area.

Importing this package registers them; the import order below is the order rules run in
(within their pass) and so the order a rule book lists them in. A rule that reacts to a tag
must be registered after every reacting rule that sets it (trials before cautions).
"""
# ruff: noqa: I001  (the order below is meaningful; it is not alphabetical)

from service.decision.rules import (  # noqa: F401  (imported to register)
    data_quality,
    toxicity,
    order_checks,
    b_all_relapsed,
    b_all_mrd,
    b_all_frontline,
    car_t,
    aml,
    t_all,
    workup,
    trials,
    cautions,
    monitoring,
)
