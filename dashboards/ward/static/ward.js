// WardWatch ward page: plain JavaScript, no build step, nothing fetched from elsewhere.
// Tiles come from /api/events (server-sent events); a bed's detail from /api/beds/{bed};
// acknowledgements go to /api/alerts/{id}/ack (the server adds the session's token).
"use strict";

const VITALS = [["hr", "HR", "/min", 0], ["spo2", "SpO2", "%", 0], ["rr", "RR", "/min", 0],
  ["bp", "BP", "mmHg", 0], ["temp", "Temp", "\u00b0C", 1]];
const PRIO = { high: ["!!!", "HIGH"], medium: ["!!", "MED"], low: ["!", "LOW"] };
const STALE_S = 30;
const FAST = new Set(["hr", "spo2", "rr"]);  // sent every second: blank when they stop
const beds = new Map();
let me = { can_ack: false, role: "", user: "" };
let skewNs = 0;  // server clock minus browser clock
let openBed = null;
let detailTimer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k === "role" || k.startsWith("aria-") || k === "tabindex" || k === "type" || k === "title") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function nowNs() { return Date.now() * 1e6 + skewNs; }
function fmt(v, d) { return v === undefined || v === null ? "--" : Number(v).toFixed(d); }
function ago(ns) {
  const s = Math.max(0, (nowNs() - ns) / 1e9);
  return s < 90 ? `${s.toFixed(0)} s ago` : s < 5400 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}
function clock(ns) { return new Date(ns / 1e6).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

function alarmBadge(a) {
  const [sym, word] = PRIO[a.priority];
  const tech = a.kind === "technical";
  const acked = a.state === "acknowledged";
  const label = `${word}${tech ? " TECH" : ""}${acked ? " \u2713 ACK" : a.state === "escalated" ? " ESCALATED" : ""}`;
  return el("div", { class: `alarm prio-${a.priority} kind-${a.kind} state-${a.state}`, "data-alert-id": a.alert_id,
    "data-state": a.state, "data-priority": a.priority, "data-kind": a.kind, role: "status" },
  el("span", { class: "sym", "aria-hidden": "true" }, tech ? "\u2699" : sym),
  el("span", { class: "word" }, label), el("span", { class: "what" }, a.message || a.source));
}

function ackButton(a, bedLabel) {
  if (!me.can_ack || !(a.state === "active" || a.state === "escalated")) return null;
  const b = el("button", { type: "button", class: "ack-btn", "data-alert-id": a.alert_id, title: `Acknowledge ${a.source}` }, "Acknowledge");
  if (sent.get(a.alert_id) === "sent") { b.textContent = "Sent \u2713"; b.disabled = true; b.dataset.sent = "1"; }
  b.addEventListener("click", (ev) => { ev.stopPropagation(); acknowledge(a, b, bedLabel); });
  return b;
}

async function acknowledge(a, button, bedLabel) {
  button.disabled = true;
  button.textContent = "Sending\u2026";
  try {
    const r = await fetch(`/api/alerts/${encodeURIComponent(a.alert_id)}/ack`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ patient_ref: a.patient_ref }) });
    if (r.status === 202) { sent.set(a.alert_id, "sent"); button.textContent = "Sent \u2713"; button.dataset.sent = "1"; return; }
    const body = await r.json().catch(() => ({}));
    button.textContent = r.status === 403 ? "Not allowed" : "Failed: retry";
    button.title = body.message || `HTTP ${r.status}`;
    button.disabled = r.status === 403;
  } catch (e) {
    button.textContent = "Failed: retry";
    button.disabled = false;
  }
}

function vitalCell(key, label, unit, d, s) {
  let text, flagged = false;
  if (key === "bp") {
    const sy = s.vitals.sbp, di = s.vitals.dbp;
    text = `${fmt(sy && sy.value, 0)}/${fmt(di && di.value, 0)}`;
  } else {
    const v = s.vitals[key];
    const old = v && FAST.has(key) && (s.updated_ns - v.t_ns) / 1e9 > STALE_S;  // the monitor stopped sending it
    text = old ? "--" : fmt(v && v.value, d);
    flagged = !!(v && v.quality && v.quality.length);
  }
  return el("div", { class: `vital${flagged ? " flagged" : ""}`, "data-vital": key, title: flagged ? "flagged by the device" : "" },
    el("div", { class: "name" }, label), el("div", { class: "val" }, text), el("div", { class: "unit" }, unit));
}

const tiles = new Map();  // bed -> {node, alarmKey}
const sent = new Map();   // alert id -> "sent" | "forbidden": survives re-renders

function alarmArea(s) {
  const box = el("div", { class: "alarm-area" });
  const top = s.alarms[0];
  if (!top) { box.append(el("div", { class: "quiet" }, "\u2014 no alarm")); return box; }
  s.alarms.slice(0, 3).forEach((a, i) => { const b = alarmBadge(a); if (i) b.classList.add("secondary"); box.append(b); });
  const btn = ackButton(top, s.bed);
  const rest = s.alarms.length - 3;
  if (btn || rest > 0) box.append(el("div", { class: "news-line" }, rest > 0 ? el("span", { class: "more" }, `+${rest} more alarm${rest > 1 ? "s" : ""}`) : el("span"), btn));
  return box;
}

function newTile(bed) {
  const node = el("article", { class: "bed", "data-bed": bed, tabindex: "0", "aria-label": `Bed ${bed}` },
    el("div", { class: "bed-head" }, el("span", { class: "bed-label" }, `Bed ${bed}`), el("span", { class: "ref" })),
    el("div", { class: "alarm-area" }), el("div", { class: "vitals" }), el("div", { class: "news-line status-line" }));
  node.addEventListener("click", (ev) => { if (!ev.target.closest(".ack-btn")) openDetail(bed); });
  node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && !ev.target.closest(".ack-btn")) openDetail(bed); });
  return { node, alarmKey: null };
}

function updateTile(t, s) {
  const top = s.alarms[0];
  const stale = (nowNs() - s.updated_ns) / 1e9 > STALE_S;
  const cls = ["bed"];
  if (top) cls.push(`alarm-${top.priority}`, top.kind === "technical" ? "alarm-tech" : "alarm-phys");
  if (top && top.state === "acknowledged") cls.push("alarm-acked");
  if (stale) cls.push("stale");
  t.node.className = cls.join(" ");
  t.node.dataset.alarmState = top ? top.state : "none";
  t.node.querySelector(".ref").textContent = s.patient_ref;
  const key = JSON.stringify([me.can_ack, s.alarms.map((a) => [a.alert_id, a.state, a.priority, a.message])]);
  if (key !== t.alarmKey) {  // rebuilt only when the alarms change, so a button is not replaced under a finger
    t.node.querySelector(".alarm-area").replaceWith(alarmArea(s));
    t.alarmKey = key;
  }
  t.node.querySelector(".vitals").replaceChildren(...VITALS.map(([k, label, unit, d]) => vitalCell(k, label, unit, d, s)));
  const n = s.news2;
  const chip = n ? el("span", { class: `chip news news-${n.band}`, "data-news2": n.total },
    `NEWS2 ${n.total} \u00b7 ${n.band.toUpperCase()}${n.partial ? " (partial)" : ""}`) : el("span", { class: "chip news" }, "NEWS2 --");
  const flags = s.flags || [];
  t.node.querySelector(".status-line").replaceChildren(...[chip,
    flags.length ? el("span", { class: "flags", title: "device quality flags" }, `\u2691 ${flags.join(", ").replace(/_/g, " ")}`) : null,
    stale ? el("span", { class: "stale-label" }, `NO DATA ${ago(s.updated_ns)}`) : el("span", { class: "age" }, ago(s.updated_ns))].filter(Boolean));
}

function render() {
  const grid = document.getElementById("grid");
  const list = [...beds.values()].sort((a, b) => a.bed.localeCompare(b.bed, undefined, { numeric: true }));
  if (!list.length) return;
  if (grid.querySelector(".empty")) grid.replaceChildren();
  for (const s of list) {
    let t = tiles.get(s.bed);
    if (!t) { t = newTile(s.bed); tiles.set(s.bed, t); }
    updateTile(t, s);
  }
  const order = list.map((s) => tiles.get(s.bed).node);
  if (order.some((n, i) => grid.children[i] !== n) || grid.children.length !== order.length) grid.replaceChildren(...order);
  const open = list.flatMap((s) => s.alarms.filter((a) => a.state !== "acknowledged"));
  const counts = ["high", "medium", "low"].map((p) => [p, open.filter((a) => a.priority === p).length]).filter(([, c]) => c);
  document.getElementById("summary").textContent = `${list.length} beds \u00b7 ` +
    (counts.length ? counts.map(([p, c]) => `${c} ${PRIO[p][1]}`).join(", ") + " alarm(s) unacknowledged" : "no unacknowledged alarm");
}

function spark(points, title, unit, d) {
  const box = el("div", { class: "trend", "data-trend": title });
  const vals = points.map((p) => p[1]);
  const lo = Math.min(...vals), hi = Math.max(...vals), t0 = points[0][0], t1 = points[points.length - 1][0];
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 300 70"); svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map(([t, v]) => `${(300 * (t - t0) / Math.max(1, t1 - t0)).toFixed(1)},${(65 - 60 * (v - lo) / Math.max(1e-9, hi - lo)).toFixed(1)}`).join(" "));
  svg.append(line);
  box.append(el("h3", {}, `${title}: ${fmt(vals[vals.length - 1], d)} ${unit}`), svg,
    el("div", { class: "range" }, `min ${fmt(lo, d)} \u00b7 max ${fmt(hi, d)} \u00b7 last ${((t1 - t0) / 6e10).toFixed(0)} min`));
  return box;
}

function wave(strip, title) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "wave"); svg.setAttribute("viewBox", "0 0 1000 130"); svg.setAttribute("preserveAspectRatio", "none");
  const v = strip.values, lo = Math.min(...v), hi = Math.max(...v);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", v.map((y, i) => `${(1000 * i / Math.max(1, v.length - 1)).toFixed(1)},${(122 - 114 * (y - lo) / Math.max(1e-9, hi - lo)).toFixed(1)}`).join(" "));
  svg.append(line);
  const secs = (v.length / strip.fs_hz).toFixed(1);
  return el("div", { class: "strip", "data-strip": strip.signal }, el("h3", {}, `${title}: ${strip.signal} (${strip.unit}), ${secs} s from ${clock(strip.start_ns)}`), svg);
}

function alarmRow(a, bedLabel) {
  const [sym, word] = PRIO[a.priority];
  const ev = a.evidence || {};
  const facts = Object.entries(ev.values || {}).map(([k, v]) => `${k} ${fmt(v, 1)}`).concat(Object.entries(ev.thresholds || {}).map(([k, v]) => `${k} limit ${fmt(v, 1)}`));
  const row = el("div", { class: "alarm-row", "data-alert-id": a.alert_id, "data-state": a.state },
    el("div", { class: "line" },
      el("span", { class: `chip prio-${a.priority}${a.kind === "technical" ? " techmark" : ""}` }, `${a.kind === "technical" ? "\u2699" : sym} ${word}${a.kind === "technical" ? " TECH" : ""}`),
      el("span", { class: "state" }, a.state.toUpperCase()), el("span", {}, a.message || a.source),
      el("span", { class: "age" }, `since ${clock(a.onset_ns)}`), ackButton(a, bedLabel)),
    facts.length ? el("div", { class: "evidence" }, `Evidence: ${facts.join(" \u00b7 ")}${ev.signal_quality != null ? ` \u00b7 signal quality ${fmt(ev.signal_quality, 2)}` : ""}`) : null);
  for (const n of a.notes || []) {
    row.append(el("div", { class: "note", "data-note": "1" }, n.text,
      el("div", { class: "by" }, `${n.verified ? "\u2713 verified" : "template"} note (${n.backend}), ${clock(n.created_ns)}`)));
  }
  if (a.snippet) row.append(wave(a.snippet, "Alarm snippet"));
  return row;
}

async function loadDetail(bed) {
  const r = await fetch(`/api/beds/${encodeURIComponent(bed)}`, { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login"; return; }
  if (!r.ok || openBed !== bed) return;
  const d = await r.json();
  skewNs = d.now_ns - Date.now() * 1e6;
  const body = el("div", {});
  const trends = el("div", { class: "trends" });
  const specs = { hr: ["Heart rate", "/min", 0], spo2: ["SpO2", "%", 0], rr: ["Resp. rate", "/min", 0], sbp: ["Systolic BP", "mmHg", 0], news2: ["NEWS2", "", 0] };
  for (const [key, [title, unit, dec]] of Object.entries(specs)) if (d.trends[key] && d.trends[key].length > 1) trends.append(spark(d.trends[key], title, unit, dec));
  body.append(trends);
  if (d.strip) body.append(wave(d.strip, "Live waveform"));
  else {
    const f = Object.entries(d.ecg_features || {}).map(([k, v]) => `${k} ${fmt(v, 2)}`);
    body.append(el("div", { class: "strip" }, el("h3", {}, "Waveform"), f.length ? `No live waveform; derived: ${f.join(" \u00b7 ")}` : "No waveform from this bed."));
  }
  const alarms = el("div", { class: "alarms" }, el("h3", {}, `Alarms (${d.alerts.length})`));
  for (const a of d.alerts) alarms.append(alarmRow(a, bed));
  if (!d.alerts.length) alarms.append(el("div", { class: "quiet" }, "No alarm on this bed."));
  body.append(alarms);
  document.getElementById("detail-title").textContent = `Bed ${bed} \u00b7 ${d.summary.patient_ref}`;
  document.getElementById("detail-body").replaceChildren(body);
}

function openDetail(bed) {
  openBed = bed;
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = `Bed ${bed}`;
  document.getElementById("detail-body").replaceChildren(el("p", {}, "Loading\u2026"));
  loadDetail(bed);
}

function closeDetail() { openBed = null; document.getElementById("detail").hidden = true; }

function take(list, now) {
  skewNs = now - Date.now() * 1e6;
  for (const s of list) beds.set(s.bed, s);
  render();
  if (openBed && list.some((s) => s.bed === openBed) && !detailTimer) {
    detailTimer = setTimeout(() => { detailTimer = null; if (openBed) loadDetail(openBed); }, 1500);
  }
}

function connect() {
  const conn = document.getElementById("conn");
  const src = new EventSource("/api/events");
  src.addEventListener("open", () => { conn.textContent = "LIVE"; conn.className = "conn conn-live"; });
  src.addEventListener("error", () => {
    conn.textContent = "RECONNECTING"; conn.className = "conn conn-wait";
    if (src.readyState === EventSource.CLOSED) {  // refused (401): logged out; else try again
      fetch("/api/ward", { credentials: "same-origin" }).then((r) => { if (r.status === 401) location.href = "/login"; else setTimeout(connect, 3000); })
        .catch(() => setTimeout(connect, 3000));
    }
  });
  src.addEventListener("me", (e) => {
    me = JSON.parse(e.data);
    document.getElementById("me").textContent = `${me.role} ${me.user}${me.can_ack ? "" : " (view only)"}`;
  });
  src.addEventListener("snapshot", (e) => {
    const d = JSON.parse(e.data);
    document.getElementById("ward-name").textContent = d.ward;
    beds.clear();
    take(d.beds, d.now_ns);
  });
  src.addEventListener("beds", (e) => { const d = JSON.parse(e.data); take(d.beds, d.now_ns); });
  src.addEventListener("logout", () => { src.close(); location.href = "/login"; });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  document.getElementById("detail").addEventListener("click", (e) => { if (e.target.id === "detail") closeDetail(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
  setInterval(render, 5000);  // ages and NO DATA labels move on without new records
  connect();
});
