// foliogate operator console: plain JavaScript, no build step, no external resources.
//
// Every piece of data reaches the page through textContent (via el() below), never innerHTML,
// so text from events, the PMS or the wire log cannot become markup. The page calls the
// gateway's /v1/ API with the session cookie the login set (HttpOnly: this script never sees
// it). Endpoints another part of the gateway may not serve yet (assign, approve, reconcile)
// are called all the same; their error text is shown.
"use strict";

(function () {
  const TICK_MS = 1000;          // how often the page looks whether something is due
  const REFRESH_MS = 5000;       // links and the exception queue
  const FINAL_STATES = new Set(["posted", "resolved"]);
  const API = "../v1/";          // relative to /console/, so a path prefix in front still works

  const state = {
    operator: null,
    timer: null,
    lastRefresh: 0,
    refreshing: false,
    background: false,            // true while the timer's refreshes start their requests
    notes: new Map(),            // "leg:3" / "event:evt_x" / "assign:evt_x" -> typed text
    queueSignature: null,
    recent: [],                  // [{kind, id, label, action, at, leg}]
    properties: [],
  };

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers (text only) ----------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function say(text, kind) {
    const box = $("message");
    box.textContent = text || "";
    box.className = kind || "";
  }

  function time(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  // Minor units to text without floating point: 5000 GBP -> "50.00 GBP", 500 JPY -> "500 JPY".
  function money(minor, currency) {
    if (typeof minor !== "number" || !Number.isInteger(minor)) return minor == null ? "" : String(minor);
    let digits = 2;
    if (currency) {
      try {
        digits = new Intl.NumberFormat("en", { style: "currency", currency })
          .resolvedOptions().maximumFractionDigits;
      } catch (e) { /* unknown to this browser: assume 2 */ }
    }
    const sign = minor < 0 ? "-" : "";
    const text = String(Math.abs(minor)).padStart(digits + 1, "0");
    const units = digits ? text.slice(0, -digits) + "." + text.slice(-digits) : text;
    return sign + units + (currency ? " " + currency : "");
  }

  // -- the API --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
    get noSuchEndpoint() {
      const errors = (this.body && this.body.errors) || [];
      return this.status === 405 ||
        (this.status === 404 && errors.some((e) => e && e.reason === "no such endpoint"));
    }
  }

  function errorText(response, data, text) {
    if (data && Array.isArray(data.errors) && data.errors.length) {
      return data.errors
        .map((e) => (e && e.path ? e.path + ": " : "") + (e && e.reason ? e.reason : String(e)))
        .join("; ");
    }
    const detail = !data && text ? ": " + text.slice(0, 200) : "";
    return "HTTP " + response.status + " " + response.statusText + detail;
  }

  async function call(method, url, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    // The page's own periodic refreshes say so: they do not keep an unattended session alive.
    if (state.background) options.headers["Foliogate-Background"] = "1";
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      throw new ApiError(0, "the gateway did not answer (" + e.message + ")", null);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!response.ok) {
      const error = new ApiError(response.status, errorText(response, data, text), data);
      if (response.status === 401 && url.startsWith(API) && state.operator) {
        showLogin("Your session has ended: log in again.");
      }
      throw error;
    }
    return data;
  }

  const api = (method, path, body) => call(method, API + path, body);
  const seg = (value) => encodeURIComponent(String(value));

  // -- login ----------------------------------------------------------------------------------

  function showLogin(text) {
    state.operator = null;
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    $("app").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    say(text || "", text ? "error" : "");
    $("login-operator").focus();
  }

  function showApp(session) {
    state.operator = session.operator;
    $("operator-name").textContent = session.operator;
    $("login").hidden = true;
    $("who").hidden = false;
    $("app").hidden = false;
    if (!$("reconcile-date").value) $("reconcile-date").value = today();
    refreshAll();
    if (!state.timer) state.timer = setInterval(tick, TICK_MS);
  }

  function today() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  async function login(event) {
    event.preventDefault();
    const operator = $("login-operator").value.trim();
    const token = $("login-token").value;
    $("login-submit").disabled = true;
    try {
      const session = await call("POST", "login", { operator, token });
      $("login-token").value = "";
      say("");
      showApp(session);
    } catch (e) {
      say("Login failed: " + e.message, "error");
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function logout() {
    try { await call("POST", "logout"); } catch (e) { /* the session is gone either way */ }
    showLogin("");
    say("Logged out.");
  }

  // -- refreshing -----------------------------------------------------------------------------

  function tick() {
    if (!state.operator) return;
    // The requests start synchronously inside these calls, so the flag is seen by each.
    state.background = true;
    try {
      if (Date.now() - state.lastRefresh >= REFRESH_MS) refreshAll();
      else if (state.recent.some((r) => r.kind === "leg" && !FINAL_STATES.has(r.state))) refreshRecent();
    } finally {
      state.background = false;
    }
  }

  async function refreshAll() {
    if (state.refreshing) return;
    state.refreshing = true;
    state.lastRefresh = Date.now();
    try {
      await Promise.all([refreshLinks(), refreshQueue(), refreshRecent()]);
    } finally {
      state.refreshing = false;
    }
  }

  async function refreshLinks() {
    let data;
    try {
      data = await api("GET", "links");
    } catch (e) {
      $("links-updated").textContent = "(could not load: " + e.message + ")";
      return;
    }
    const links = (data && data.links) || [];
    replaceRows($("links").tBodies[0], links.map((link) => {
      const holds = [link.resync ? "resync (DS..DE)" : null, link.night_audit ? "night audit" : null]
        .filter(Boolean).join(", ");
      return el("tr", { dataset: { property: link.property } },
        el("td", null, link.property),
        el("td", null, link.profile || ""),
        el("td", { class: "link-state state-" + String(link.state).replace(/[^a-z]/g, "-") }, link.state),
        el("td", null, holds || "none"),
        el("td", { class: link.can_post ? "yes" : "no" }, link.can_post ? "yes" : "no"));
    }));
    $("links-updated").textContent = "updated " + new Date().toLocaleTimeString();
    const names = links.map((l) => l.property);
    if (names.join("\n") !== state.properties.join("\n")) {
      state.properties = names;
      const select = $("reconcile-property");
      const chosen = select.value;
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      if (names.includes(chosen)) select.value = chosen;
    }
  }

  async function refreshQueue() {
    let data;
    try {
      data = await api("GET", "exceptions");
    } catch (e) {
      $("queue-count").textContent = "(could not load: " + e.message + ")";
      return;
    }
    const signature = JSON.stringify(data);
    if (signature === state.queueSignature) return; // unchanged: keep what is being typed
    state.queueSignature = signature;
    const focused = document.activeElement && document.activeElement.id;
    const legs = (data && data.legs) || [];
    const events = (data && data.events) || [];
    replaceRows($("queue-legs").tBodies[0], legs.map(legRow));
    replaceRows($("queue-events").tBodies[0], events.map(eventRow));
    $("queue-legs-empty").hidden = legs.length > 0;
    $("queue-events-empty").hidden = events.length > 0;
    $("queue-count").textContent = legs.length + " leg" + (legs.length === 1 ? "" : "s") + ", " +
      events.length + " event" + (events.length === 1 ? "" : "s");
    if (focused && $(focused)) $(focused).focus();
  }

  function noteInput(key, placeholder) {
    return el("input", {
      id: "note-" + key.replace(/[^A-Za-z0-9_-]/g, "_"),
      class: "note",
      placeholder,
      maxlength: 500,
      value: state.notes.get(key) || "",
      oninput: (e) => state.notes.set(key, e.target.value),
    });
  }

  function legRow(leg) {
    const key = "leg:" + leg.leg_id;
    const actions = Array.isArray(leg.actions) ? leg.actions : ["retry", "resolve"];
    const buttons = actions.map((action) => el("button", {
      type: "button",
      class: "action action-" + action,
      dataset: { action, legId: leg.leg_id },
      onclick: () => legAction(leg, action, key),
    }, actionLabel(action)));
    const posting = [leg.transaction_code, leg.payment_type].filter(Boolean).join(" / ");
    return el("tr", { dataset: { legId: leg.leg_id, eventId: leg.event_id } },
      el("td", null, el("span", { class: "id" }, String(leg.leg_id)), " ", leg.reference),
      el("td", null, leg.property),
      el("td", null, leg.confirmation_number),
      el("td", null, posting, leg.description ? el("div", { class: "muted" }, leg.description) : null),
      el("td", { class: "amount" }, money(leg.amount, leg.currency)),
      el("td", { class: "leg-state state-" + leg.state }, leg.state,
        leg.answer_status ? el("div", { class: "muted" }, "AS" + leg.answer_status) : null),
      el("td", { class: "reason" }, leg.reason || "", leg.by_hand ? el("div", { class: "muted" }, "post by hand") : null),
      el("td", null, String(leg.attempts ?? "")),
      el("td", null, time(leg.updated_at)),
      el("td", { class: "actions" },
        noteInput(key, actions.includes("resolve") ? "note (required to resolve)" : "note"),
        buttons));
  }

  function eventRow(record) {
    const body = record.event || {};
    const payment = body.payment || {};
    const booking = body.booking || {};
    const key = "event:" + record.event_id;
    const assignKey = "assign:" + record.event_id;
    const actions = Array.isArray(record.actions) ? record.actions : ["resolve"];
    const cells = [noteInput(key, "note")];
    if (actions.includes("assign")) {
      cells.unshift(candidatePicker(record, assignKey));
    }
    for (const action of actions) {
      cells.push(el("button", {
        type: "button",
        class: "action action-" + action,
        dataset: { action, eventId: record.event_id },
        onclick: () => eventAction(record, action, key, assignKey),
      }, actionLabel(action)));
    }
    return el("tr", { dataset: { eventId: record.event_id } },
      el("td", null, record.event_id),
      el("td", null, record.property),
      el("td", null, record.type),
      el("td", null, booking.confirmation_number || el("span", { class: "muted" }, "blank")),
      el("td", { class: "amount" }, money(payment.amount, payment.currency)),
      el("td", { class: "reason" }, record.outcome || record.status || ""),
      el("td", null, time(record.received_at)),
      el("td", { class: "actions" }, cells));
  }

  // The record to assign: typed, or picked from the candidates the gateway found (if any).
  function candidatePicker(record, key) {
    const input = el("input", {
      id: "assign-" + String(record.event_id).replace(/[^A-Za-z0-9_-]/g, "_"),
      class: "record",
      placeholder: "confirmation number",
      maxlength: 64,
      value: state.notes.get(key) || "",
      oninput: (e) => state.notes.set(key, e.target.value),
    });
    const candidates = Array.isArray(record.candidates) ? record.candidates : [];
    const list = candidates.map((c) => {
      const number = typeof c === "object" && c ? c.confirmation_number ?? c.record ?? "" : String(c);
      const label = typeof c === "object" && c
        ? [number, c.guest_name, c.room ? "room " + c.room : null, c.score != null ? "score " + c.score : null]
          .filter(Boolean).join(" · ")
        : String(c);
      return el("button", {
        type: "button",
        class: "candidate",
        onclick: () => { input.value = String(number); state.notes.set(key, String(number)); },
      }, label);
    });
    return el("div", { class: "assign" }, input, list.length ? el("div", { class: "candidates" }, list) : null);
  }

  function actionLabel(action) {
    return { retry: "Retry", resolve: "Resolve", assign: "Assign record", approve: "Approve" }[action] ||
      action.charAt(0).toUpperCase() + action.slice(1);
  }

  async function legAction(leg, action, key) {
    const note = (state.notes.get(key) || "").trim();
    if (action === "resolve" && !note) {
      say("Write a note saying what was done on the PMS, then resolve leg " + leg.leg_id + ".", "error");
      const input = $("note-" + key.replace(/[^A-Za-z0-9_-]/g, "_"));
      if (input) input.focus();
      return;
    }
    const text = note || (action === "retry" ? "retried from the console" : action + " from the console");
    try {
      const answer = await api("POST", "legs/" + seg(leg.leg_id) + "/" + seg(action),
        { operator: state.operator, note: text });
      state.notes.delete(key);
      remember({ kind: "leg", id: leg.leg_id, label: leg.leg_id + " " + leg.reference, action,
        state: answer && answer.state, reason: answer && answer.reason });
      say("Leg " + leg.leg_id + ": " + action + " done (" + ((answer && answer.state) || "ok") + ").", "ok");
    } catch (e) {
      say("Leg " + leg.leg_id + ": " + action + " failed: " + e.message, "error");
    }
    state.queueSignature = null;
    refreshAll();
  }

  async function eventAction(record, action, key, assignKey) {
    const note = (state.notes.get(key) || "").trim();
    const body = { operator: state.operator, note: note || action + " from the console" };
    if (action === "resolve" && !note) {
      say("Write a note saying what was done, then resolve event " + record.event_id + ".", "error");
      return;
    }
    if (action === "assign") {
      const number = (state.notes.get(assignKey) || "").trim();
      if (!number) {
        say("Type or pick the confirmation number to assign to " + record.event_id + ".", "error");
        return;
      }
      body.confirmation_number = number;
    }
    try {
      const answer = await api("POST", "events/" + seg(record.event_id) + "/" + seg(action), body);
      state.notes.delete(key);
      state.notes.delete(assignKey);
      remember({ kind: "event", id: record.event_id, label: record.event_id, action,
        state: answer && answer.status, reason: answer && answer.outcome });
      say("Event " + record.event_id + ": " + action + " done.", "ok");
    } catch (e) {
      say("Event " + record.event_id + ": " + action + " failed: " + e.message, "error");
    }
    state.queueSignature = null;
    refreshAll();
  }

  function remember(item) {
    item.at = new Date();
    state.recent.unshift(item);
    state.recent = state.recent.slice(0, 10);
    renderRecent();
  }

  async function refreshRecent() {
    await Promise.all(state.recent.map(async (item) => {
      if (item.kind !== "leg" || FINAL_STATES.has(item.state)) return;
      try {
        const leg = await api("GET", "legs/" + seg(item.id));
        item.state = leg.state;
        item.reason = leg.reason;
      } catch (e) {
        item.reason = "could not load: " + e.message;
      }
    }));
    renderRecent();
  }

  function renderRecent() {
    replaceRows($("recent").tBodies[0], state.recent.map((item) => el("tr",
      { dataset: item.kind === "leg" ? { legId: item.id } : { eventId: item.id } },
      el("td", null, (item.kind === "leg" ? "leg " : "event ") + item.label),
      el("td", null, item.action),
      el("td", null, item.at.toLocaleTimeString()),
      el("td", { class: "leg-state state-" + (item.state || "unknown") }, item.state || ""),
      el("td", { class: "reason" }, item.reason || ""))));
    $("recent-empty").hidden = state.recent.length > 0;
  }

  // -- a reservation's journey ----------------------------------------------------------------

  async function showJourney(event) {
    event.preventDefault();
    const query = $("journey-query").value.trim();
    const box = $("journey");
    if (!query) return;
    box.replaceChildren(el("p", { class: "muted" }, "Looking up " + query + "…"));
    let events;
    try {
      events = [await api("GET", "events/" + seg(query))];
    } catch (e) {
      if (e.status !== 404) {
        box.replaceChildren(el("p", { class: "error" }, "Could not load event " + query + ": " + e.message));
        return;
      }
      try {
        events = (await api("GET", "reservations/" + seg(query))).events || [];
      } catch (e2) {
        box.replaceChildren(el("p", { class: e2.status === 404 ? "muted" : "error" },
          e2.status === 404 ? "No event and no reservation " + query + " in the journal."
            : "Could not load reservation " + query + ": " + e2.message));
        return;
      }
    }
    box.replaceChildren(...events.map(journeyEvent));
  }

  function journeyEvent(record) {
    const body = record.event || {};
    const payment = body.payment || {};
    const booking = body.booking || {};
    const rows = (record.legs || []).map((leg) => {
      const detail = el("tr", { class: "wire", hidden: true }, el("td", { colspan: 10 }));
      const button = el("button", {
        type: "button",
        class: "wire-toggle",
        dataset: { legId: leg.leg_id },
        onclick: () => toggleWire(leg, detail, button),
      }, "Wire log");
      return [el("tr", { dataset: { legId: leg.leg_id } },
        el("td", null, String(leg.leg_id)),
        el("td", null, leg.reference),
        el("td", null, leg.confirmation_number),
        el("td", null, [leg.transaction_code, leg.payment_type].filter(Boolean).join(" / ")),
        el("td", { class: "amount" }, money(leg.amount, leg.currency)),
        el("td", { class: "leg-state state-" + leg.state }, leg.state),
        el("td", null, leg.posting_number == null ? "" : String(leg.posting_number),
          leg.answer_status ? " AS" + leg.answer_status : ""),
        el("td", { class: "reason" }, leg.reason || ""),
        el("td", null, time(leg.updated_at)),
        el("td", null, button)), detail];
    });
    return el("article", { class: "journey-event", dataset: { eventId: record.event_id } },
      el("h3", null, record.event_id, " ", el("span", { class: "muted" }, record.type + " · " + record.status)),
      el("p", null,
        [record.property, booking.guest_name, booking.confirmation_number ? "conf. " + booking.confirmation_number : null,
          payment.amount != null ? money(payment.amount, payment.currency) : null,
          payment.kind, "received " + time(record.received_at)].filter(Boolean).join(" · ")),
      record.outcome ? el("p", { class: "reason" }, record.outcome) : null,
      rows.length
        ? el("table", { class: "legs" },
          el("thead", null, el("tr", null, ["Leg", "Reference", "Conf. no.", "Posting", "Amount", "State",
            "P# / AS", "Reason", "Updated", ""].map((h) => el("th", null, h)))),
          el("tbody", null, rows))
        : el("p", { class: "muted" }, "No legs."));
  }

  async function toggleWire(leg, detail, button) {
    if (!detail.hidden) {
      detail.hidden = true;
      button.textContent = "Wire log";
      return;
    }
    const cell = detail.firstChild;
    cell.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    detail.hidden = false;
    button.textContent = "Hide";
    const [wire, history] = await Promise.allSettled([
      api("GET", "legs/" + seg(leg.leg_id) + "/wire"),
      api("GET", "legs/" + seg(leg.leg_id) + "/history"),
    ]);
    const parts = [];
    if (history.status === "fulfilled") {
      parts.push(el("h4", null, "History"), el("table", { class: "history" },
        el("tbody", null, (history.value.history || []).map((a) => el("tr", null,
          el("td", null, time(a.time)), el("td", null, a.actor), el("td", null, a.action),
          el("td", null, (a.from_state || "") + " → " + (a.to_state || "")),
          el("td", { class: "reason" }, a.note || ""))))));
    } else {
      parts.push(el("p", { class: "error" }, "History: " + history.reason.message));
    }
    if (wire.status === "fulfilled") {
      const frames = wire.value.frames || [];
      parts.push(el("h4", null, "Wire log (" + frames.length + " frame" + (frames.length === 1 ? "" : "s") + ")"),
        frames.length
          ? el("pre", { class: "frames", dataset: { legId: leg.leg_id } }, frames.map((f) =>
            time(f.time) + "  " + (f.direction === "out" ? "→ PMS " : "← PMS ") + f.protocol + "  " + f.text + "\n"))
          : el("p", { class: "muted" }, "Nothing on the wire for this leg yet."));
    } else {
      parts.push(el("p", { class: "error" }, "Wire log: " + wire.reason.message));
    }
    cell.replaceChildren(...parts);
  }

  // -- reconciliation -------------------------------------------------------------------------

  async function reconcile(event) {
    event.preventDefault();
    const property = $("reconcile-property").value;
    const date = $("reconcile-date").value;
    const box = $("reconcile");
    box.replaceChildren(el("p", { class: "muted" }, "Reconciling " + property + " for " + date + "…"));
    try {
      const report = await api("GET", "reconcile?property=" + seg(property) + "&date=" + seg(date));
      box.replaceChildren(renderValue(report));
    } catch (e) {
      box.replaceChildren(e.noSuchEndpoint
        ? el("p", { class: "muted", id: "reconcile-unavailable" }, "Reconciliation is not available on this gateway.")
        : el("p", { class: "error" }, "Reconciliation failed: " + e.message));
    }
  }

  // Any JSON as nested lists and tables (the report's layout belongs to the reconciliation).
  function renderValue(value) {
    if (value === null || value === undefined) return el("span", { class: "muted" }, "—");
    if (Array.isArray(value)) {
      if (!value.length) return el("span", { class: "muted" }, "none");
      if (value.every((v) => v && typeof v === "object" && !Array.isArray(v))) return tableOf(value);
      return el("ul", null, value.map((v) => el("li", null, renderValue(v))));
    }
    if (typeof value === "object") {
      return el("dl", { class: "kv" }, Object.entries(value).map(([k, v]) =>
        [el("dt", null, k), el("dd", null, renderValue(v))]));
    }
    return el("span", null, String(value));
  }

  function tableOf(rows) {
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    return el("table", { class: "report" },
      el("thead", null, el("tr", null, columns.map((c) => el("th", null, c)))),
      el("tbody", null, rows.map((r) => el("tr", null, columns.map((c) => {
        const v = r[c];
        return el("td", null, v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
      })))));
  }

  // -- start ----------------------------------------------------------------------------------

  async function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("refresh").addEventListener("click", () => { state.queueSignature = null; refreshAll(); });
    $("journey-form").addEventListener("submit", showJourney);
    $("reconcile-form").addEventListener("submit", reconcile);
    try {
      showApp(await call("GET", "session"));
    } catch (e) {
      showLogin(e.status === 401 ? "" : "Could not reach the gateway: " + e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
