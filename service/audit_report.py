"""`leukemia-cds audit`: what the service told clinicians, and what they did with it.

Written for a clinical lead reviewing the card catalogue: which recommendations are issued, how
often each is accepted or overridden, and the reasons given — the evidence for rewording,
re-scoping or retiring a card. Patient identity never appears (the store only has keyed
pseudonyms); free-text override comments are shown only on request, as clinicians may write
patient details into them.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from service.config import Settings
from service.store import (
    RecommendationSummary,
    Store,
    StoreError,
    database_exists,
    database_url,
)


def audit_command(settings: Settings, *, limit: int = 20, days: int | None = None,
                  comments: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not database_exists(settings.data_dir, settings.database_url):
        print(f"No audit database in {settings.data_dir} (LEUKEMIA_CDS_DATA_DIR): the service "
              "has not run here yet.", file=out)
        return 1
    try:
        store = Store.open(database_url(settings.data_dir, settings.database_url))
    except StoreError as exc:
        print(f"leukemia-cds: {exc}", file=sys.stderr)
        return 2
    try:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        print_report(store, out, limit=limit, since=since, comments=comments)
    finally:
        store.close()
    return 0


def print_report(store: Store, out: TextIO, *, limit: int, since: datetime | None,
                 comments: bool) -> None:
    calls = store.recent_calls(limit)
    total = store.count_calls()
    print(f"Recent hook calls ({len(calls)} of {total}, newest first)", file=out)
    if calls:
        print(f"{'time (UTC)':19}  {'status':>6}  {'ms':>5}  {'cards':>5}  {'knowledge':9}  "
              f"{'hook':12}  "
              f"{'service':36}  {'client (iss)':30}  {'tenant':16}  hookInstance", file=out)
    for call in calls:
        print(f"{call['received_at']:%Y-%m-%d %H:%M:%S}  {call['status']:>6}  "
              f"{call['latency_ms']:>5}  {call['cards']:>5}  "
              f"{_cut(call.get('knowledge_version'), 9):9}  {_cut(call['hook'], 12):12}  "
              f"{_cut(call['service_id'], 36):36}  {_cut(call['iss'], 30):30}  "
              f"{_cut(call['tenant'], 16):16}  {call['hook_instance'] or '-'}", file=out)

    summaries = store.feedback_summary(since)
    window = f" since {since:%Y-%m-%d}" if since else ""
    print(f"\nFeedback per recommendation{window} (most overridden first)", file=out)
    if not summaries:
        print("  no cards issued yet", file=out)
        return
    print(f"{'recommendation id':40}  {'issued':>6}  {'accepted':>8}  {'overridden':>10}  "
          f"{'override rate':>13}  override reasons", file=out)
    for summary in summaries:
        print(_summary_line(summary), file=out)
        if comments:
            for comment in summary.comments:
                print(f"{'':42}comment: {comment}", file=out)


def _summary_line(s: RecommendationSummary) -> str:
    answered = s.accepted + s.overridden
    rate = f"{100 * s.overridden / answered:.0f}%" if answered else "-"
    reasons = ", ".join(f"{reason} ({n})" for reason, n in s.override_reasons.most_common(5))
    return (f"{_cut(s.recommendation_id, 40):40}  {s.issued:>6}  {s.accepted:>8}  "
            f"{s.overridden:>10}  {rate:>13}  {reasons or '-'}")


def _cut(value: str | None, width: int) -> str:
    text = value or "-"
    return text if len(text) <= width else text[: width - 1] + "…"
