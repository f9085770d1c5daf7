"""Every clinical rule, one decorated function each, grouped by clinical area.

Importing this package registers them; the import order below is the order rules run in
(within their pass) and so the order a rule book lists them in.
"""

from service.decision.rulebook import (  # noqa: F401  (imported to register)
    data_quality,
    order_checks,
    b_all_relapsed,
    b_all_mrd,
    b_all_frontline,
    car_t,
    aml,
    t_all,
    workup,
    cautions,
    trials,
    monitoring,
)
