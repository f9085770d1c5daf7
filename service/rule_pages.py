"""`GET /rules` and `GET /rules/<id>`: what each rule rests on, at a stable URL.

A card at order entry should say what to do for this patient in its first lines; what the rule
rests on (its criteria, the trials it names, the seed passages it quotes) belongs on a page a
clinician can open from the card. The page is generated from the rule registry and the card
catalogue, like the rule book, so it says what the running code does. It holds no patient data,
so it needs no authentication.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from markupsafe import Markup, escape

from service import advice
from service.decision import RULES
from service.decision.registry import Rule
from service.hooks.errors import ApiError
from service.render import Catalogue

blueprint = Blueprint("rule_pages", __name__)
TRIAL_URL = "https://clinicaltrials.gov/study/{nct}"
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
          "line-height:1.5;color:#222}dt{font-weight:600;margin-top:.6rem}dd{margin-left:1rem}"
          "blockquote{border-left:3px solid #bbb;margin:.4rem 0;padding-left:.8rem;color:#444}"
          "code{background:#f3f3f3;padding:0 .2rem}small{color:#666}")


def _catalogue() -> Catalogue:
    return current_app.extensions[advice.EXTENSION].renderer.cat  # type: ignore[no-any-return]


def _page(title: str, body: str) -> Response:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>{body}</body></html>")
    return Response(html, mimetype="text/html")


def _list(items: list[str], empty: str = "—") -> Markup:
    return Markup(", ").join(escape(i) for i in items) if items else Markup(empty)


@blueprint.get("/rules")
def index() -> Response:
    cat = _catalogue()
    rows = "".join(
        f"<li><a href='rules/{escape(r.id)}'>{escape(r.id)}</a>: "
        f"{escape(cat.entries[r.id].title.render(dict(cat.entries[r.id].sample)))}</li>"
        for r in RULES.values())
    return _page("leukemia-cds rules",
                 f"<h1>leukemia-cds rules</h1><p>Knowledge {escape(cat.knowledge_version)}, "
                 f"{len(RULES)} rules, in the order they run. Each page shows when the rule "
                 f"applies and what it rests on.</p><ul>{rows}</ul>")


@blueprint.get("/rules/<rule_id>")
def page(rule_id: str) -> Response:
    rule = RULES.get(rule_id)
    if rule is None:
        raise ApiError(404, f"No rule {rule_id[:100]!r}; see /rules.")
    return _page(f"{rule.id} · leukemia-cds", _rule_html(rule, _catalogue()))


def _rule_html(r: Rule, cat: Catalogue) -> str:
    e = cat.entries[r.id]
    title = e.title.render(dict(e.sample))
    criteria = [
        ("Answers", _list(sorted(r.hooks))
         + (Markup("; at order entry for ") + _list(sorted(r.drugs)) if r.drugs else "")),
        ("Applies when", _list([c.text for c in r.when], "always (see why)")),
        ("Not when", _list([c.text for c in r.unless])),
    ]
    if r.tags or r.reacts_to:
        criteria.append(("Marks / reacts to", _list(sorted(r.tags)) + Markup(" / ")
                         + _list(sorted(r.reacts_to))))
    criteria.append(("Card", Markup(f"{escape(e.indicator)}, {escape(e.topic)}; summary: "
                                    f"<code>{escape(' '.join(e.summary_source.split()))}"
                                    "</code>")))
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in criteria)
    trials = "".join(
        f"<li><a href='{escape(TRIAL_URL.format(nct=t.nct))}'>{escape(t.nct)}</a> "
        f"<b>{escape(t.name)}</b>: {escape(t.population)}; {escape(t.status)} "
        f"<small>(as the sources report it; verify recruitment status)</small></li>"
        for t in (cat.trials[n] for n in r.trials))
    sources = "".join(
        f"<li>{escape(cat.seeds[c.seed].short)} ({escape(cat.seeds[c.seed].key)}; "
        f"{escape(cat.seeds[c.seed].current)}), {escape(c.section)}"
        f"<blockquote>{escape(c.quote)}</blockquote></li>" for c in e.citations)
    return (f"<p><a href='../rules'>All rules</a></p><h1>{escape(r.id)}: {escape(title)}</h1>"
            f"<p>{escape(r.doc)}</p><dl>{dl}</dl>"
            + (f"<h2>Trials it can name</h2><ul>{trials}</ul>" if trials else "")
            + f"<h2>What it rests on</h2><ul>{sources}</ul>"
            f"<p><small>leukemia-cds knowledge {escape(cat.knowledge_version)}; generated from "
            f"the rule registry and the card catalogue. The service advises; the clinician "
            f"decides.</small></p>")
