/* A small, safe markdown renderer for CDS card details (GitHub-flavoured subset).
 *
 * Safety rests on one rule: the source is HTML-escaped FIRST, and the only markup in the output
 * is the fixed set of tags this file writes around already-escaped text. Nothing from the service
 * can become a tag or an attribute; links are kept only for http(s), mailto, same-site paths and
 * fragments, and always open in a new tab without referrer or opener.
 *
 * Supported: paragraphs, hard breaks, headings (demoted by two levels), emphasis, strong,
 * strikethrough, inline code, fenced code, links and bare URLs, ordered / unordered / nested
 * lists, block quotes, horizontal rules and GFM tables.
 */
(function () {
  "use strict";

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" };
  var MAX_CHARS = 50000;
  var LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var FENCE = /^\s*(```|~~~)/;
  var HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  var RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  var TABLE_SEP = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }

  /* `url` is already escaped, so it cannot close the attribute; only the scheme is judged. */
  function safeUrl(url) {
    return /^(https?:\/\/|mailto:|\/(?!\/)|#)/i.test(url) ? url : null;
  }

  function anchor(href, label) {
    return "<a href=\"" + href + "\" target=\"_blank\" rel=\"noopener noreferrer\">" + label +
      "</a>";
  }

  function emphasis(s) {
    return s
      .replace(/\*\*([^*]+?)\*\*/g, "<strong>$1</strong>")
      .replace(/__([^_]+?)__/g, "<strong>$1</strong>")
      .replace(/(^|[^*\w])\*([^*\s](?:[^*]*[^*\s])?)\*(?![*\w])/g, "$1<em>$2</em>")
      .replace(/(^|[^_\w])_([^_\s](?:[^_]*[^_\s])?)_(?![_\w])/g, "$1<em>$2</em>")
      .replace(/~~([^~]+?)~~/g, "<del>$1</del>");
  }

  function inline(text) {
    var slots = [];
    function keep(html) { return "\u0000" + (slots.push(html) - 1) + "\u0000"; }
    var s = escapeHtml(text);
    s = s.replace(/`([^`]+)`/g, function (_, code) { return keep("<code>" + code + "</code>"); });
    s = s.replace(/\[([^\]]+)\]\(([^()\s]+)\)/g, function (_, label, url) {
      var href = safeUrl(url);
      return href ? keep(anchor(href, emphasis(label))) : emphasis(label) + " (" + url + ")";
    });
    s = s.replace(/\bhttps?:\/\/[^\s<>"'\u0000]*[^\s<>"'\u0000.,;:!?)&]/g, function (url) {
      return keep(anchor(url, url));
    });
    s = emphasis(s);
    for (var pass = 0; pass < 4 && s.indexOf("\u0000") >= 0; pass++) {
      s = s.replace(/\u0000(\d+)\u0000/g, function (_, n) { return slots[Number(n)]; });
    }
    return s;
  }

  function splitRow(line) {
    var t = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    return t.split("|").map(function (c) { return c.trim(); });
  }

  function startsBlock(line, next) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || LIST.test(line) ||
      /^\s*>/.test(line) || (/\|/.test(line) && next !== undefined && TABLE_SEP.test(next));
  }

  function renderLines(lines, depth) {
    var out = [];
    var i = 0;
    var m;
    while (i < lines.length) {
      var line = lines[i];
      if (/^\s*$/.test(line)) { i++; continue; }
      if ((m = FENCE.exec(line))) {
        var code = [];
        i++;
        while (i < lines.length && lines[i].trim().indexOf(m[1]) !== 0) { code.push(lines[i]); i++; }
        i++;
        out.push("<pre><code>" + escapeHtml(code.join("\n")) + "</code></pre>");
        continue;
      }
      if ((m = HEADING.exec(line))) {
        var level = Math.min(6, m[1].length + 2);
        out.push("<h" + level + ">" + inline(m[2]) + "</h" + level + ">");
        i++;
        continue;
      }
      if (RULE.test(line)) { out.push("<hr>"); i++; continue; }
      if (/\|/.test(line) && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
        var head = splitRow(line);
        var html = "<table><thead><tr>" + head.map(function (c) {
          return "<th>" + inline(c) + "</th>";
        }).join("") + "</tr></thead><tbody>";
        i += 2;
        while (i < lines.length && /\|/.test(lines[i]) && !/^\s*$/.test(lines[i])) {
          var cells = splitRow(lines[i]);
          html += "<tr>" + head.map(function (_, k) {
            return "<td>" + inline(cells[k] || "") + "</td>";
          }).join("") + "</tr>";
          i++;
        }
        out.push(html + "</tbody></table>");
        continue;
      }
      if (/^\s*>/.test(line)) {
        var quoted = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) {
          quoted.push(lines[i].replace(/^\s*>\s?/, ""));
          i++;
        }
        out.push("<blockquote>" + (depth < 8 ? renderLines(quoted, depth + 1)
          : "<p>" + inline(quoted.join(" ")) + "</p>") + "</blockquote>");
        continue;
      }
      if ((m = LIST.exec(line))) {
        var ordered = /\d/.test(m[2]);
        var indent = m[1].length;
        var items = [];
        while (i < lines.length) {
          var l = lines[i];
          var lm = LIST.exec(l);
          if (lm && lm[1].length === indent && /\d/.test(lm[2]) === ordered) {
            items.push([lm[3]]);
            i++;
          } else if (/^\s*$/.test(l)) {
            var nx = lines[i + 1];
            var nm = nx === undefined ? null : LIST.exec(nx);
            if (nx !== undefined && ((nm && nm[1].length >= indent) ||
                (!nm && /^\s/.test(nx) && !/^\s*$/.test(nx) && nx.search(/\S/) > indent))) {
              items[items.length - 1].push("");
              i++;
            } else { break; }
          } else if (lm && lm[1].length <= indent) {
            break;  /* a list of the other kind at the same level */
          } else if (!lm && !/^\s/.test(l)) {
            if (startsBlock(l, lines[i + 1])) { break; }
            items[items.length - 1].push(l);  /* lazy continuation */
            i++;
          } else {
            items[items.length - 1].push(l.replace(new RegExp("^\\s{0," + (indent + 4) + "}"), ""));
            i++;
          }
        }
        var tag = ordered ? "ol" : "ul";
        out.push("<" + tag + ">" + items.map(function (item) {
          if (item.length === 1 || depth >= 8) { return "<li>" + inline(item.join(" ")) + "</li>"; }
          var inner = renderLines(item, depth + 1).replace(/^<p>([\s\S]*?)<\/p>/, "$1");
          return "<li>" + inner + "</li>";
        }).join("") + "</" + tag + ">");
        continue;
      }
      var para = [];
      while (i < lines.length && !/^\s*$/.test(lines[i]) &&
             !(para.length && startsBlock(lines[i], lines[i + 1]))) {
        para.push(lines[i]);
        i++;
      }
      out.push("<p>" + para.map(function (p, k) {
        var hard = k < para.length - 1 && (/ {2,}$/.test(p) || /\\$/.test(p));
        return inline(p.replace(/\\$/, "").trim()) + (hard ? "<br>" : "");
      }).join(" ") + "</p>");
    }
    return out.join("\n");
  }

  function render(source) {
    var text = String(source === undefined || source === null ? "" : source);
    text = text.slice(0, MAX_CHARS).replace(/\u0000/g, "").replace(/\r\n?/g, "\n");
    return renderLines(text.split("\n"), 0);
  }

  window.SandboxMarkdown = { render: render, escapeHtml: escapeHtml };
})();
