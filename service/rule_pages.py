"""`GET /rules` and `GET /rules/<id>`: what each rule rests on, at a stable URL.

A card at order entry should say what to do for this patient in its first lines; what the rule
rests on (its criteria, the trials it names, the seed passages it quotes) belongs on a page a
clinician can open from the card. The page is generated from the rule registry and the card
catalogue, like the rule book, so it says what the running code does. It holds no patient data,
so it needs no authentication.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app
from markupsafe import Markup, escape

from service import advice
from service.decision import RULES
from service.hooks.errors import ApiError
from service.render import Catalogue
from service.render.cards import TRIAL_URL
from service.rule_book import RuleView, view

blueprint = Blueprint("rule_pages", __name__)
_PAGES = "leukemia_cds.rule_pages"
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
          "line-height:1.5;color:#222}dt{font-weight:600;margin-top:.6rem}dd{margin-left:1rem}"
          "blockquote{border-left:3px solid #bbb;margin:.4rem 0;padding-left:.8rem;color:#444}"
          "code{background:#f3f3f3;padding:0 .2rem}small{color:#666}")


def _catalogue() -> Catalogue:
    return current_app.extensions[advice.EXTENSION].renderer.cat  # type: ignore[no-any-return]


def _html(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>{body}</body></html>")


def _list(items: list[str], empty: str = "—") -> Markup:
    return Markup(", ").join(escape(i) for i in items) if items else Markup(empty)


def _pages() -> dict[str, str]:
    """Every page of this app's catalogue, rendered on first use and kept: they change only
    with the catalogue, which a process loads once."""
    pages = current_app.extensions.get(_PAGES)
    if pages is None:
        cat = _catalogue()
        views = [view(r, cat) for r in RULES.values()]
        rows = "".join(f"<li><a href='rules/{escape(v.id)}'>{escape(v.id)}</a>: "
                       f"{escape(v.title)}</li>" for v in views)
        pages = {v.id: _html(f"{v.id} · leukemia-cds", _rule_html(v, cat.knowledge_version))
                 for v in views}
        pages[""] = _html("leukemia-cds rules",
                          f"<h1>leukemia-cds rules</h1><p>Knowledge "
                          f"{escape(cat.knowledge_version)}, {len(views)} rules, in the order "
                          f"they run. Each page shows when the rule applies and what it rests "
                          f"on.</p><ul>{rows}</ul>")
        pages = current_app.extensions.setdefault(_PAGES, pages)
    return pages  # type: ignore[no-any-return]


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])_(.+?)_(?![\w*])")


def _inline(text: str) -> str:
    html = str(escape(text))
    return _ITALIC.sub(r"<i>\1</i>", _BOLD.sub(r"<b>\1</b>", html))


def markdown_html(text: str) -> Markup:
    """The catalogue's evidence Markdown as HTML: paragraphs, "- " lists, bold and italics,
    all it uses (a reviewer's text, escaped first; no links or raw HTML)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        items = [ln for ln in lines if ln.startswith("- ")]
        lead = [ln for ln in lines if not ln.startswith("- ")]
        if lead:
            out.append(f"<p>{_inline(' '.join(lead))}</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i[2:])}</li>" for i in items) + "</ul>")
    return Markup("".join(out))


@blueprint.get("/rules")
def index() -> Response:
    return Response(_pages()[""], mimetype="text/html")


@blueprint.get("/rules/<rule_id>")
def page(rule_id: str) -> Response:
    html = _pages().get(rule_id) if rule_id else None
    if html is None:
        raise ApiError(404, f"No rule {rule_id[:100]!r}; see /rules.")
    return Response(html, mimetype="text/html")


def _rule_html(v: RuleView, knowledge_version: str) -> str:
    criteria = [
        ("Answers", _list(list(v.hooks))
         + (Markup("; at order entry for ") + _list(list(v.drugs)) if v.drugs else "")),
        ("Applies when", _list(list(v.when), "always (see why)")),
        ("Not when", _list(list(v.unless))),
    ]
    if v.tags or v.reacts_to:
        criteria.append(("Marks / reacts to", _list(list(v.tags)) + Markup(" / ")
                         + _list(list(v.reacts_to))))
    criteria.append(("Card", Markup(f"{escape(v.indicator)}, {escape(v.topic)}; summary: "
                                    f"<code>{escape(v.summary)}</code>")))
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{d}</dd>" for k, d in criteria)
    trials = "".join(
        f"<li><a href='{escape(TRIAL_URL.format(nct=t.nct))}'>{escape(t.nct)}</a> "
        f"<b>{escape(t.name)}</b>: {escape(t.population)}; {escape(t.status)} "
        f"<small>(as the sources report it; verify recruitment status)</small></li>"
        for t in v.trials)
    sources = "".join(
        (f"<li>{escape(s.seed)} ({escape(s.key)}; {escape(s.current)}), "
         + (f"<a href='{escape(s.url)}'>{escape(s.section)}</a>" if s.url
            else escape(s.section))
         + f"<blockquote>{escape(s.quote)}</blockquote></li>") for s in v.sources)
    siblings = Markup(", ").join(Markup(f"<a href='{escape(i)}'>{escape(i)}</a>")
                                 for i in v.siblings)
    return (f"<p><a href='../rules'>All rules</a></p><h1>{escape(v.id)}: {escape(v.title)}</h1>"
            f"<p>{escape(v.why)}</p><dl>{dl}</dl>"
            + (f"<h2>Evidence</h2>{markdown_html(v.evidence)}" if v.evidence else "")
            + (f"<p><small>Shares a card with: {siblings}</small></p>" if v.siblings else "")
            + (f"<h2>Trials it can name</h2><ul>{trials}</ul>" if trials else "")
            + f"<h2>What it rests on</h2><ul>{sources}</ul>"
            f"<p><small>leukemia-cds knowledge {escape(knowledge_version)}; generated from "
            f"the rule registry and the card catalogue. The service advises; the clinician "
            f"decides.</small></p>")
