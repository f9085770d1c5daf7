/* The sandbox page: behaves as an EHR's CDS client would.
 *
 * Every call to the service goes to its real CDS Hooks endpoints with a fresh, short-lived JWT
 * that the sandbox's server side signs for exactly that endpoint. Card content from the service
 * is only ever put into the page as text (textContent) or through SandboxMarkdown, which escapes
 * before it formats.
 */
(function () {
  "use strict";

  var EXT = "org.leukemia-cds.recommendation";
  var state = {
    patients: [], drugs: [], services: {}, patient: null, prefetch: null, basket: [],
    lastCall: null
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "className") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);  /* works on plain http too, unlike crypto.randomUUID */
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function status(text, isError) {
    var s = $("status");
    s.textContent = text;
    s.className = "status" + (isError ? " error" : "");
  }

  async function getJson(url) {
    var r = await fetch(url, { headers: { Accept: "application/json" } });
    if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
    return r.json();
  }

  /* A token for one call to `path`, as an EHR's CDS client would mint. */
  async function token(path) {
    var r = await fetch("/sandbox/api/token", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: path })
    });
    if (!r.ok) { throw new Error("token: HTTP " + r.status); }
    return (await r.json()).token;
  }

  /* POST `body` to `path` (GET without a body), signed for exactly that endpoint. */
  async function callService(path, body) {
    var headers = { Accept: "application/json" };
    var jwt = await token(path);
    if (jwt) { headers.Authorization = "Bearer " + jwt; }
    var init = { method: body === undefined ? "GET" : "POST", headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var r = await fetch(path, init);
    var text = await r.text();
    var data;
    try { data = JSON.parse(text); } catch (e) { data = { raw: text }; }
    return { status: r.status, data: data };
  }

  // ---- patients ---------------------------------------------------------------------------

  function renderPatientList() {
    var list = $("patient-list");
    list.replaceChildren();
    state.patients.forEach(function (p) {
      var demo = (p.age === null ? "age unknown" : p.age + " y") + " · " + p.sex;
      var button = el("button", { type: "button", className: "patient-item",
                                  "data-patient": p.id }, [
        el("div", { className: "name", text: p.name + " (" + demo + ")" }),
        el("div", { className: "title", text: p.scenario.title })
      ]);
      button.addEventListener("click", function () { selectPatient(p.id); });
      list.appendChild(el("li", {}, [button]));
    });
  }

  async function selectPatient(id) {
    var p = state.patients.find(function (x) { return x.id === id; });
    if (!p) { return; }
    state.patient = p;
    state.basket = [];
    document.querySelectorAll(".patient-item").forEach(function (b) {
      b.setAttribute("aria-current", b.getAttribute("data-patient") === id ? "true" : "false");
    });
    $("empty").hidden = true;
    $("chart").hidden = false;
    $("result").hidden = true;
    $("patient-name").textContent = p.name;
    $("patient-demo").textContent = (p.age === null ? "age unknown" : p.age + " years") + " · " +
      p.sex + " · Patient/" + p.id + " · " + p.resources + " resources";
    $("scenario-summary").textContent = p.scenario.title + ": " + p.scenario.summary;
    $("bundle-link").setAttribute("href", "/sandbox/api/patients/" + encodeURIComponent(p.id) +
                                          "/bundle");
    var chips = $("key-facts");
    chips.replaceChildren();
    p.keyFacts.forEach(function (f) { chips.appendChild(el("li", { text: f })); });
    var select = $("drug-select");
    select.replaceChildren();
    var suggested = p.orders;
    suggested.concat(state.drugs.map(function (d) { return d.id; }).filter(function (d) {
      return suggested.indexOf(d) < 0;
    })).forEach(function (id) {
      var drug = state.drugs.find(function (d) { return d.id === id; });
      select.appendChild(el("option", { value: id, text: drug.label }));
    });
    renderBasket();
    status("Loading chart…");
    state.prefetch = await getJson("/sandbox/api/patients/" + encodeURIComponent(p.id) +
                                   "/prefetch");
    status("Chart loaded. Fire a hook.");
  }

  function renderBasket() {
    var list = $("basket");
    list.replaceChildren();
    $("basket-box").hidden = state.basket.length === 0;
    state.basket.forEach(function (order, index) {
      var label = (order.medicationCodeableConcept && order.medicationCodeableConcept.text) ||
        (order.code && order.code.text) || order.resourceType;
      var remove = el("button", { type: "button", text: "remove" });
      remove.addEventListener("click", function () {
        state.basket.splice(index, 1);
        renderBasket();
      });
      list.appendChild(el("li", {}, [
        el("span", { text: order.resourceType + "/" + order.id + ": " + label + " (draft) " }),
        remove
      ]));
    });
  }

  // ---- hooks ------------------------------------------------------------------------------

  async function fire(hook, selections) {
    var p = state.patient;
    if (!p || !state.prefetch) { return; }
    var context = { userId: "Practitioner/sandbox-clinician", patientId: p.id };
    if (hook !== "patient-view") {
      context.draftOrders = { resourceType: "Bundle", type: "collection",
        entry: state.basket.map(function (r) { return { resource: r }; }) };
    }
    if (hook === "order-select") { context.selections = selections; }
    var body = { hook: hook, hookInstance: uuid4(), context: context, prefetch: state.prefetch };
    var service = state.services[hook];
    var path = "/cds-services/" + service;
    status("Calling " + hook + "…");
    var answer = await callService(path, body);
    state.lastCall = { hook: hook, service: service, request: body, response: answer.data };
    $("result").hidden = false;
    $("result-title").textContent = "Cards from " + hook + " (HTTP " + answer.status + ")";
    $("raw-request").querySelector("pre").textContent = JSON.stringify(body, null, 2);
    $("raw-response").querySelector("pre").textContent = JSON.stringify(answer.data, null, 2);
    var cards = (answer.data && answer.data.cards) || [];
    renderCards(cards);
    status(answer.status === 200 ? hook + ": " + cards.length + " card(s)"
                                 : hook + " failed: HTTP " + answer.status, answer.status !== 200);
  }

  async function addSelectedDrug() {
    var drug = $("drug-select").value;
    var existing = state.basket.find(function (o) { return o.id === "draft-" + drug; });
    if (existing) { return existing; }
    var order = await getJson("/sandbox/api/patients/" + encodeURIComponent(state.patient.id) +
                              "/draft/" + encodeURIComponent(drug));
    state.basket.push(order);
    renderBasket();
    return order;
  }

  // ---- cards ------------------------------------------------------------------------------

  function renderCards(cards) {
    var box = $("cards");
    box.replaceChildren();
    if (!cards.length) {
      box.appendChild(el("p", { className: "muted", text: "No cards: the service has nothing " +
                                                         "to say for this call." }));
    }
    cards.forEach(function (card) { box.appendChild(renderCard(card)); });
  }

  function renderCard(card) {
    var indicator = ["info", "warning", "critical"].indexOf(card.indicator) >= 0
      ? card.indicator : "info";
    var node = el("article", { className: "card " + indicator, "data-card": card.uuid || "" });
    var rec = (card.extension && card.extension[EXT]) || {};
    var ruleIds = rec.ids || (rec.id ? [rec.id] : []);  /* a card may merge several rules */
    if (ruleIds.length) { node.setAttribute("data-recommendation", ruleIds.join(" ")); }
    node.appendChild(el("div", { className: "card-head" }, [
      el("span", { className: "indicator", text: indicator }),
      el("span", { className: "summary", text: card.summary || "" })
    ]));
    var src = card.source || {};
    var topic = src.topic ? " · " + (src.topic.display || src.topic.code) : "";
    var source = el("div", { className: "source", text: (src.label || "") + topic });
    if (src.url && /^https?:\/\//i.test(src.url)) {
      source.appendChild(document.createTextNode(" · "));
      source.appendChild(el("a", { href: src.url, target: "_blank", rel: "noopener noreferrer",
                                   text: "source" }));
    }
    node.appendChild(source);
    if (card.detail) {
      var detail = el("div", { className: "detail" });
      detail.innerHTML = window.SandboxMarkdown.render(card.detail);  /* escaped, then formatted */
      node.appendChild(detail);
    }
    if (card.links && card.links.length) {
      var links = el("ul", { className: "links" });
      card.links.forEach(function (link) {
        var item;
        if (link.type === "absolute" && /^https?:\/\//i.test(link.url || "")) {
          item = el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer",
                           text: link.label });
        } else {
          item = el("span", { text: link.label + " (" + (link.type || "link") +
                                    " link: an EHR would launch it)" });
        }
        links.appendChild(el("li", {}, [item]));
      });
      node.appendChild(links);
    }
    var foot = el("div", { className: "card-foot" });
    var done = el("span", { className: "feedback-done" });
    if (card.suggestions && card.suggestions.length) {
      var list = el("ul", { className: "suggestions" });
      card.suggestions.forEach(function (suggestion) {
        var accept = el("button", { type: "button", className: "accept",
                                    text: "Accept: " + suggestion.label });
        var item = el("li", { className: "suggestion" }, [accept]);
        if (suggestion.isRecommended) {
          item.appendChild(el("span", { className: "recommended", text: "recommended" }));
        }
        (suggestion.actions || []).forEach(function (action) {
          var what = action.resource ? " " + action.resource.resourceType : "";
          item.appendChild(el("div", { className: "actions-desc",
                                       text: action.type + what + ": " + action.description }));
        });
        accept.addEventListener("click", function () {
          accepted(card, suggestion, node, done);
        });
        list.appendChild(item);
      });
      node.appendChild(list);
    }
    var reasons = card.overrideReasons || [];
    var reasonSelect = null;
    if (reasons.length) {
      reasonSelect = el("select", { className: "override-reason", "aria-label": "Override reason" });
      reasons.forEach(function (r, i) {
        reasonSelect.appendChild(el("option", { value: String(i), text: r.display || r.code }));
      });
      foot.appendChild(reasonSelect);
    }
    var comment = el("input", { type: "text", className: "override-comment", maxlength: "500",
                                placeholder: "comment (optional)",
                                "aria-label": "Override comment" });
    var dismiss = el("button", { type: "button", className: "override",
                                 text: reasons.length ? "Override with reason" : "Dismiss" });
    dismiss.addEventListener("click", function () {
      var reason = reasonSelect ? reasons[Number(reasonSelect.value)] : null;
      overridden(card, reason, comment.value.trim(), node, done);
    });
    foot.appendChild(comment);
    foot.appendChild(dismiss);
    foot.appendChild(done);
    node.appendChild(foot);
    node.appendChild(whyPanel(rec));
    return node;
  }

  function whyPanel(rec) {
    var why = el("details", { className: "why" }, [el("summary", { text: "Why this card?" })]);
    var ruleIds = rec.ids || (rec.id ? [rec.id] : []);
    if (ruleIds.length) {
      why.appendChild(el("div", { className: "muted",
                                  text: (ruleIds.length > 1 ? "Rules: " : "Rule: ") +
                                        ruleIds.join(", ") }));
    }
    var facts = rec.facts || [];
    if (facts.length) {
      var table = el("table", {}, [el("tr", {}, [
        el("th", { text: "Fact" }), el("th", { text: "Value" }), el("th", { text: "Resource" })
      ])]);
      facts.forEach(function (f) {
        var cell = el("td");
        if (f.resource) {
          var button = el("button", { type: "button", className: "resource-link",
                                      text: f.resource });
          var pre = el("pre", { hidden: "" });
          button.addEventListener("click", function () {
            pre.textContent = JSON.stringify(findResource(f.resource), null, 2);
            pre.hidden = !pre.hidden;
          });
          cell.appendChild(button);
          cell.appendChild(pre);
        }
        table.appendChild(el("tr", {}, [el("td", { text: f.name }),
                                        el("td", { text: String(f.value) }), cell]));
      });
      why.appendChild(table);
    } else {
      why.appendChild(el("p", { className: "muted", text: "No recorded facts cited." }));
    }
    var evidence = rec.evidence || [];
    var regulatory = rec.regulatory || [];
    if (evidence.length || regulatory.length) {
      var cites = el("ul", { className: "evidence" });
      /* label changes after the seeds lead: they win for label status (knowledge-updates.md) */
      regulatory.forEach(function (r) {
        var name = String(r.agency) + " " + String(r.date) + " (regulatory, " + String(r.id) + ")";
        var url = String(r.url || "");
        cites.appendChild(el("li", { className: "regulatory" }, [
          /^https:\/\//.test(url) ? el("a", { href: url, rel: "noopener noreferrer",
                                              target: "_blank", text: name })
                                 : el("span", { text: name })]));
      });
      evidence.forEach(function (e) {
        cites.appendChild(el("li", { text: e.seed + (e.section ? " — " + e.section : "") }));
      });
      why.appendChild(el("div", { text: "Sources:" }));
      why.appendChild(cites);
    }
    return why;
  }

  function findResource(ref) {
    var parts = String(ref).split("/");
    var found = null;
    Object.keys(state.prefetch || {}).forEach(function (key) {
      var value = state.prefetch[key];
      var candidates = value && value.entry ? value.entry.map(function (e) { return e.resource; })
                                            : [value];
      candidates.forEach(function (r) {
        if (r && r.resourceType === parts[0] && r.id === parts[1]) { found = r; }
      });
    });
    return found || { note: ref + " is not in this chart's prefetch" };
  }

  // ---- feedback ---------------------------------------------------------------------------

  async function sendFeedback(item, node, done) {
    var path = "/cds-services/" + state.lastCall.service + "/feedback";
    item.card = node.getAttribute("data-card");
    item.outcomeTimestamp = new Date().toISOString();
    var answer = await callService(path, { feedback: [item] });
    var ok = answer.status === 200;
    done.textContent = ok ? "Feedback sent (" + item.outcome + ")"
                          : "Feedback failed: HTTP " + answer.status;
    node.setAttribute("data-feedback", ok ? item.outcome : "failed");
    status(ok ? "Feedback stored: " + item.outcome : "Feedback failed", !ok);
    return ok;
  }

  async function accepted(card, suggestion, node, done) {
    var ok = await sendFeedback({ outcome: "accepted",
                                  acceptedSuggestions: [{ id: suggestion.uuid }] }, node, done);
    if (!ok) { return; }
    (suggestion.actions || []).forEach(function (action) {
      if (action.type === "create" && action.resource) {
        /* the EHR gives the new draft an id, as it would to any order it creates */
        var draft = JSON.parse(JSON.stringify(action.resource));
        draft.id = draft.id || "accepted-" + String(suggestion.uuid || uuid4()).slice(0, 8);
        state.basket.push(draft);
      }
    });
    renderBasket();
    if (card.selectionBehavior === "at-most-one") {
      node.querySelectorAll("button.accept").forEach(function (b) { b.disabled = true; });
    }
  }

  async function overridden(card, reason, userComment, node, done) {
    var item = { outcome: "overridden" };
    if (reason || userComment) { item.overrideReason = {}; }
    if (reason) { item.overrideReason.reason = reason; }
    if (userComment) { item.overrideReason.userComment = userComment; }
    var ok = await sendFeedback(item, node, done);
    if (ok) { node.querySelectorAll("button").forEach(function (b) { b.disabled = true; }); }
  }

  // ---- start ------------------------------------------------------------------------------

  function guard(fn) {
    return function () {
      fn.apply(null, arguments).catch(function (err) { status(String(err), true); });
    };
  }

  async function start() {
    var data = await getJson("/sandbox/api/patients");
    state.patients = data.patients;
    state.drugs = data.drugs;
    state.services = data.services;
    renderPatientList();
    $("fire-discovery").addEventListener("click", guard(async function () {
      var answer = await callService("/cds-services");
      $("result").hidden = false;
      $("result-title").textContent = "Discovery (HTTP " + answer.status + ")";
      $("cards").replaceChildren();
      $("raw-request").querySelector("pre").textContent = "GET /cds-services";
      $("raw-response").querySelector("pre").textContent = JSON.stringify(answer.data, null, 2);
      $("raw-response").open = true;
    }));
    $("fire-patient-view").addEventListener("click", guard(function () {
      return fire("patient-view");
    }));
    $("fire-order-select").addEventListener("click", guard(async function () {
      var order = await addSelectedDrug();
      return fire("order-select", [order.resourceType + "/" + order.id]);
    }));
    $("fire-order-sign").addEventListener("click", guard(async function () {
      if (!state.basket.length) { await addSelectedDrug(); }
      return fire("order-sign");
    }));
    document.body.setAttribute("data-ready", "true");
  }

  /* For the browser tests: render arbitrary (hostile) cards exactly as service cards are. */
  window.SandboxPage = { renderCards: renderCards };

  document.addEventListener("DOMContentLoaded", guard(start));
})();
