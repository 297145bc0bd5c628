"""The console's inline JavaScript: live refresh by polling JSON every two seconds.

Rows are built with textContent (never innerHTML with data) and kept by id, so a note
being typed into a row's form survives a refresh. A viewer's page carries no code that
builds action forms or names action URLs. The Content-Security-Policy (`headers.py`)
allows exactly these scripts, by hash.
"""

from __future__ import annotations

from withdrawguard.web.console.actions import MAX_NOTE

_OVERVIEW = r"""
function cell(tr, text, cls) {
  const td = tr.insertCell(); td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
function age(s) {
  if (s < 120) return s + " s";
  return s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
}
function holdRow(h) {
  const tr = document.createElement("tr"); tr.id = "hold-" + h.withdrawal_id; tr.className = "hold";
  const a = document.createElement("a"); a.href = "/customers/" + encodeURIComponent(h.customer_id);
  a.textContent = h.customer_id; tr.insertCell().appendChild(a);
  cell(tr, h.withdrawal_id); cell(tr, h.amount + " " + h.currency, "num"); cell(tr, h.destination);
  cell(tr, h.reasons.join(", ")); cell(tr, "", "age");
  const td = tr.insertCell();
  /*ACTIONS*/
  return tr;
}
function alertRow(a) {
  const tr = document.createElement("tr"); tr.className = "sev-" + a.severity;
  cell(tr, a.severity, "sev"); cell(tr, a.created_at.replace("T", " ").slice(0, 19));
  const c = document.createElement("a"); c.href = "/customers/" + encodeURIComponent(a.customer_id);
  c.textContent = a.customer_id; tr.insertCell().appendChild(c);
  cell(tr, a.rule_codes.join(", ")); cell(tr, a.summary);
  return tr;
}
async function refresh() {
  try {
    const r = await fetch("/console/api/overview", {credentials: "same-origin"});
    if (r.status === 401) { location.href = "/login"; return; }
    const d = await r.json();
    const body = document.getElementById("holds"); const keep = new Set();
    for (const h of d.holds) {
      keep.add("hold-" + h.withdrawal_id);
      let tr = document.getElementById("hold-" + h.withdrawal_id);
      if (!tr) { tr = holdRow(h); }
      body.appendChild(tr);
      tr.querySelector(".age").textContent = age(h.age_seconds);
    }
    for (const tr of [...body.rows]) if (!keep.has(tr.id)) tr.remove();
    document.getElementById("holds-count").textContent = d.holds.length;
    const alerts = document.getElementById("alerts");
    alerts.replaceChildren(...d.alerts.map(alertRow));
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) { document.getElementById("updated").textContent = "refresh failed, retrying"; }
}
refresh(); setInterval(refresh, 2000);
"""

_ACTIONS_CODE = r"""
const CSRF = document.body.dataset.csrf;
function actionForm(td, h) {
  const f = document.createElement("form"); f.method = "post"; f.className = "act";
  f.action = "/customers/" + encodeURIComponent(h.customer_id) + "/actions";
  const add = (n, v) => {
    const i = document.createElement("input");
    i.type = "hidden"; i.name = n; i.value = v; f.appendChild(i);
  };
  add("csrf", CSRF); add("withdrawal_id", h.withdrawal_id); add("back", "/console");
  const note = document.createElement("input"); note.name = "note"; note.required = true;
  note.maxLength = /*MAX_NOTE*/; note.placeholder = "note (required)"; f.appendChild(note);
  const buttons = h.four_eyes ? [["confirm_fraud", "Confirm fraud"]]
    : [["release", "Release"], ["confirm_fraud", "Confirm fraud"]];
  for (const [v, t] of buttons) {
    const b = document.createElement("button");
    b.name = "action"; b.value = v; b.textContent = t; f.appendChild(b);
  }
  td.appendChild(f);
  if (h.four_eyes) {  // at or above the threshold: proposed and approved in the case
    const a = document.createElement("a"); a.className = "four-eyes";
    a.href = "/cases/of/" + encodeURIComponent(h.customer_id);
    a.textContent = "Release: four eyes, in the case"; td.appendChild(a);
  }
}
"""

_ACTIONS = _ACTIONS_CODE.replace("/*MAX_NOTE*/", str(MAX_NOTE))  # the server's limit

OVERVIEW_VIEWER = _OVERVIEW.replace("/*ACTIONS*/", "")
"""The overview for viewers: no action forms, no action URLs."""
OVERVIEW_ANALYST = _ACTIONS + _OVERVIEW.replace("/*ACTIONS*/", "actionForm(td, h);")
"""The overview for analysts: each hold row gets its release / confirm form."""

CUSTOMER = r"""
async function refresh() {
  const cells = [...document.querySelectorAll("[data-wid]")];
  if (!cells.length) return;
  const ids = cells.map(c => c.dataset.wid).join(",");
  try {
    const url = "/console/api/withdrawals?ids=" + encodeURIComponent(ids);
    const r = await fetch(url, {credentials: "same-origin"});
    if (r.status === 401) { location.href = "/login"; return; }
    const d = await r.json();
    for (const c of cells) {
      const w = d[c.dataset.wid];
      if (!w) continue;
      const by = (w.actor ? " · by " + w.actor : "") + (w.note ? ": " + w.note : "");
      c.textContent = (w.hold_status || "no hold") + " · " + (w.decision || "pending") + by;
      c.className = "status st-" + (w.hold_status || "none");
    }
  } catch (e) {}
}
refresh(); setInterval(refresh, 2000);
"""
