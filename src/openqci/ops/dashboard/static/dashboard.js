// OpenQCI operations dashboard: draws the network on a map and keeps every figure live from the
// controller's server-sent events. Plain JavaScript and SVG, no library; every asset comes from the controller.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KEEP = 300;                       // samples kept per series (5 minutes at one a second)
const COLOURS = { down: "#ff4d5e", qber: "#e056fd", drained: "#f5a524", unknown: "#5b6878", route: "#39c5ff" };
const RAMP = ["#2b6cb0", "#2ecc8f", "#e8f75a"];   // low to high effective key rate

const state = { snapshot: null, outlines: null, series: {}, view: null, selected: null, lastEvent: 0 };
const $ = (id) => document.getElementById(id);

// -- formatting -------------------------------------------------------------------------------------------
function fmtBits(bits) {
  if (bits === null || bits === undefined) return "–";
  const units = ["bit", "kbit", "Mbit", "Gbit", "Tbit"];
  let v = bits, i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v < 10 && i > 0 ? 2 : v < 100 && i > 0 ? 1 : 0)} ${units[i]}`;
}
const fmtRate = (bps) => (bps === null || bps === undefined ? "–" : `${fmtBits(bps)}/s`);
const fmtQber = (q) => (q === null || q === undefined ? "–" : `${(100 * q).toFixed(2)} %`);
const fmtTime = (s) => new Date(s * 1000).toISOString().slice(11, 19);
function fmtAgo(s, now) {
  const d = Math.max(0, now - s);
  return d < 60 ? `${d.toFixed(0)} s ago` : d < 3600 ? `${(d / 60).toFixed(0)} min ago` : `${(d / 3600).toFixed(1)} h ago`;
}
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function sv(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// -- colours ------------------------------------------------------------------------------------------------
function mix(a, b, t) {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return `rgb(${pa.map((x, i) => Math.round(x + (pb[i] - x) * t)).join(",")})`;
}
function rampColour(t) {
  t = Math.max(0, Math.min(1, t));
  return t < 0.5 ? mix(RAMP[0], RAMP[1], t * 2) : mix(RAMP[1], RAMP[2], (t - 0.5) * 2);
}
function rateScale(links) {
  const rates = links.map((l) => l.eskr_bps).filter((r) => r > 0);
  if (!rates.length) return { lo: 2, hi: 7 };
  const lo = Math.floor(Math.log10(Math.min(...rates)) - 0.3), hi = Math.log10(Math.max(...rates));
  return { lo, hi: Math.max(hi, lo + 1) };
}
function linkCondition(link) {
  if (link.status === "down") return "down";
  if (link.alarms.includes("qber-high")) return "qber";
  if (link.status !== "up") return "unknown";
  if (link.alarms.includes("key-drained")) return "drained";
  return "up";
}
function linkColour(link, scale) {
  const condition = linkCondition(link);
  if (condition !== "up") return COLOURS[condition];
  const rate = Math.max(1, link.eskr_bps || 1);
  return rampColour((Math.log10(rate) - scale.lo) / (scale.hi - scale.lo));
}

// -- the map --------------------------------------------------------------------------------------------------
const mercY = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * 180 / Math.PI;

function fitView(nodes, width, height) {
  const xs = nodes.map((n) => n.lon), ys = nodes.map((n) => mercY(n.lat));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const minSpan = 3;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  let w = Math.max((x1 - x0) * 1.2, minSpan), h = Math.max((y1 - y0) * 1.2, minSpan * 0.6);
  if (w / h > width / height) h = (w * height) / width; else w = (h * width) / height;
  const k = width / w;
  return { k, x: (lon) => (lon - (cx - w / 2)) * k, y: (lat) => ((cy + h / 2) - mercY(lat)) * k, width, height };
}

function drawMap() {
  const snap = state.snapshot, svg = $("map");
  if (!snap) return;
  const box = svg.getBoundingClientRect();
  const view = fitView(snap.nodes, Math.max(box.width, 300), Math.max(box.height, 200));
  state.view = view;
  svg.setAttribute("viewBox", `0 0 ${view.width} ${view.height}`);
  svg.replaceChildren();
  const land = sv("g", { id: "land" }), grid = sv("g", { id: "graticule" });
  for (let lon = -30; lon <= 50; lon += 5) grid.append(sv("line", { class: "graticule", x1: view.x(lon), x2: view.x(lon), y1: 0, y2: view.height }));
  for (let lat = 30; lat <= 75; lat += 5) grid.append(sv("line", { class: "graticule", y1: view.y(lat), y2: view.y(lat), x1: 0, x2: view.width }));
  if (state.outlines) {
    for (const country of state.outlines.countries) {
      let d = "";
      for (const ring of country.rings) {
        for (let i = 0; i < ring.length; i += 2) d += `${i ? "L" : "M"}${view.x(ring[i]).toFixed(1)},${view.y(ring[i + 1]).toFixed(1)}`;
        d += "Z";
      }
      const path = sv("path", { class: "land", d, "data-country": country.iso });
      land.append(path);
    }
  }
  svg.append(grid, land, sv("g", { id: "routes-layer" }), sv("g", { id: "links-layer" }), sv("g", { id: "sites-layer" }), sv("g", { id: "labels-layer" }));
  const where = Object.fromEntries(snap.nodes.map((n) => [n.id, [view.x(n.lon), view.y(n.lat)]]));
  for (const link of snap.links) {
    const [a, b] = [where[link.a], where[link.b]];
    const line = sv("line", { class: "link", x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-link": link.id, "stroke-width": 4 });
    const hit = sv("line", { class: "link-hit", x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-hit": link.id });
    hit.addEventListener("mousemove", (e) => showTip(e, linkTip(link.id)));
    hit.addEventListener("mouseleave", hideTip);
    hit.addEventListener("click", () => select(`link:${link.id}`));
    $("links-layer").append(line, hit);
  }
  const placed = [];
  const order = [...snap.nodes].sort((p, q) => (q.roles.includes("user-site") - p.roles.includes("user-site")) || q.links.length - p.links.length);
  for (const node of snap.nodes) {
    const [x, y] = where[node.id];
    const circle = sv("circle", { class: "site", cx: x, cy: y, r: node.roles.includes("user-site") ? 7 : 5.5, "data-site": node.id });
    circle.addEventListener("mousemove", (e) => showTip(e, nodeTip(node.id)));
    circle.addEventListener("mouseleave", hideTip);
    circle.addEventListener("click", () => select(`kme:${node.id}`));
    $("sites-layer").append(circle);
  }
  for (const node of order) placeLabel(node, where[node.id], placed);
  updateMap();
}

function placeLabel(node, [x, y], placed) {
  const w = node.id.length * 6.4 + 4, h = 13;
  const options = [[x + 9, y + 4, "start"], [x - 9, y + 4, "end"], [x, y - 11, "middle"], [x, y + 19, "middle"]];
  for (const [lx, ly, anchor] of options) {
    const left = anchor === "start" ? lx : anchor === "end" ? lx - w : lx - w / 2;
    const rect = [left, ly - h + 3, left + w, ly + 3];
    if (placed.some((r) => !(rect[2] < r[0] || rect[0] > r[2] || rect[3] < r[1] || rect[1] > r[3]))) continue;
    placed.push(rect);
    const text = sv("text", { class: "site-label", x: lx, y: ly, "text-anchor": anchor, "data-label": node.id });
    text.textContent = node.id;
    $("labels-layer").append(text);
    return;
  }
}

function updateMap() {
  const snap = state.snapshot, view = state.view;
  if (!snap || !view || !$("links-layer")) return;
  const scale = rateScale(snap.links);
  const attacked = new Set(snap.attacks.filter((a) => a.in_effect).map((a) => a.link));
  for (const link of snap.links) {
    const line = document.querySelector(`line[data-link="${CSS.escape(link.id)}"]`);
    if (!line) continue;
    line.setAttribute("stroke", linkColour(link, scale));
    line.setAttribute("data-status", link.status);
    line.setAttribute("data-condition", linkCondition(link));
    line.classList.toggle("attacked", attacked.has(link.id) || link.status === "down");
  }
  for (const node of snap.nodes) {
    const circle = document.querySelector(`circle[data-site="${CSS.escape(node.id)}"]`);
    if (!circle) continue;
    const alarmed = snap.links.some((l) => (l.a === node.id || l.b === node.id) && l.alarms.length);
    circle.setAttribute("fill", node.status === "up" ? (alarmed ? COLOURS.drained : "#d8e1ea") : node.status === "down" ? COLOURS.down : COLOURS.unknown);
    circle.setAttribute("data-status", node.status);
  }
  const layer = $("routes-layer");
  layer.replaceChildren();
  const latest = snap.routes.find((r) => !r.error);
  if (latest && snap.now_s - latest.at_s < 30) {
    const byId = Object.fromEntries(snap.nodes.map((n) => [n.id, n]));
    const points = latest.kmes.map((k) => `${view.x(byId[k].lon)},${view.y(byId[k].lat)}`).join(" ");
    layer.append(sv("polyline", { class: "route-path", points, "data-route": latest.kmes.join(">") }));
  }
  drawLegend(scale);
}

function drawLegend(scale) {
  const ramp = `linear-gradient(90deg, ${RAMP.join(", ")})`;
  $("legend").innerHTML =
    `<div><b>Links</b></div>` +
    `<div>eff. key rate ${fmtRate(10 ** scale.lo)}<span class="ramp" style="background:${ramp}"></span>${fmtRate(10 ** scale.hi)}</div>` +
    `<div><span class="sw" style="background:${COLOURS.qber}"></span>QBER alarm (eavesdropper?)` +
    `&nbsp; <span class="sw" style="background:${COLOURS.drained}"></span>key drained</div>` +
    `<div><span class="sw" style="background:${COLOURS.down}"></span>down / cut` +
    `&nbsp; <span class="sw" style="background:${COLOURS.unknown}"></span>no report` +
    `&nbsp; <span class="sw" style="background:${COLOURS.route}"></span>last relay</div>`;
}

// -- tooltips and selection ---------------------------------------------------------------------------------
function linkTip(id) {
  const l = state.snapshot.links.find((x) => x.id === id);
  return `<b>${l.id}</b> <span class="status ${linkCondition(l)}">${l.status}</span><br>${l.a} ⟷ ${l.b}, ${l.length_km.toFixed(1)} km, ${l.preset}` +
    `<br>eff. key rate ${fmtRate(l.eskr_bps)} (expected ${fmtRate(l.expected_skr_bps)})<br>QBER ${fmtQber(l.qber)} · key in store ${fmtBits(l.key_bits)}` +
    (l.alarms.length ? `<br><span style="color:${COLOURS.down}">alarms: ${l.alarms.join(", ")}</span>` : "");
}
function nodeTip(id) {
  const n = state.snapshot.nodes.find((x) => x.id === id);
  return `<b>${n.id}</b> <span class="status ${n.status}">${n.status}</span><br>${n.roles.join(", ")}` +
    `<br>key in store ${fmtBits(n.key_bits)} · delivered ${fmtBits(n.consumed_bits)}<br>${n.links.length} links`;
}
function showTip(event, html) {
  const tip = $("tooltip"), wrap = tip.parentElement.getBoundingClientRect();
  tip.innerHTML = html;
  tip.hidden = false;
  tip.style.left = `${Math.min(event.clientX - wrap.left + 14, wrap.width - 240)}px`;
  tip.style.top = `${event.clientY - wrap.top + 14}px`;
}
function hideTip() { $("tooltip").hidden = true; }
function select(key) {
  state.selected = state.selected === key ? null : key;
  renderTables();
  const row = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (row && state.selected) row.scrollIntoView({ block: "nearest" });
}

// -- time series --------------------------------------------------------------------------------------------
function record(snap) {
  const add = (key, values) => {
    const s = (state.series[key] ||= []);
    if (s.length && snap.now_s < s[s.length - 1][0]) s.length = 0;  // a replay started over
    if (s.length && snap.now_s - s[s.length - 1][0] < 0.95) return;  // one sample a second
    s.push([snap.now_s, ...values]);
    if (s.length > KEEP) s.splice(0, s.length - KEEP);
  };
  for (const l of snap.links) add(`link:${l.id}`, [l.eskr_bps || 0, l.key_bits || 0, l.qber || 0]);
  for (const n of snap.nodes) add(`kme:${n.id}`, [n.key_bits, n.consumed_bits]);
}
function spark(points, column, colour, width = 120, height = 26) {
  const svg = sv("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}` });
  if (!points || points.length < 2) return svg;
  const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
  const values = points.map((p) => p[column]);
  const lo = Math.min(...values, 0), hi = Math.max(...values, lo + 1e-9);
  const xy = points.map((p) => [((p[0] - t0) / Math.max(t1 - t0, 1e-9)) * (width - 2) + 1, height - 2 - ((p[column] - lo) / (hi - lo)) * (height - 4)]);
  const line = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  svg.append(sv("polygon", { class: "area", fill: colour, points: `1,${height - 1} ${line} ${width - 1},${height - 1}` }));
  svg.append(sv("polyline", { class: "line", stroke: colour, points: line }));
  return svg;
}

// -- panels -------------------------------------------------------------------------------------------------
function renderHeader(snap) {
  const sum = (xs) => xs.reduce((a, b) => a + (b || 0), 0);
  $("network").textContent = snap.network;
  $("tile-nodes").textContent = `${snap.nodes.filter((n) => n.status === "up").length} / ${snap.nodes.length}`;
  $("tile-links").textContent = `${snap.links.filter((l) => l.status === "up").length} / ${snap.links.length}`;
  $("tile-rate").textContent = fmtRate(sum(snap.links.filter((l) => l.status === "up").map((l) => l.eskr_bps)));
  $("tile-key").textContent = fmtBits(sum(snap.nodes.map((n) => n.key_bits)));
  $("tile-used").textContent = fmtBits(sum(snap.nodes.map((n) => n.consumed_bits)));
  $("tile-alarms").textContent = String(snap.alarms.active.length);
  $("tile-alarms").parentElement.classList.toggle("firing", snap.alarms.active.length > 0);
  $("clock").textContent = snap.replay
    ? `${new Date(snap.now_s * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC · replay ×${snap.replay.speed}`
    : `${fmtTime(snap.now_s)} UTC`;
}
function renderAlarms(snap) {
  const list = $("alarms");
  list.replaceChildren();
  $("alarm-count").textContent = String(snap.alarms.active.length);
  $("alarm-count").classList.toggle("firing", snap.alarms.active.length > 0);
  for (const a of snap.alarms.active) {
    const li = el("li", { class: a.severity, "data-alarm-kind": a.kind, "data-alarm-link": a.link });
    li.append(el("span", { class: "kind" }, `${a.kind} `), el("span", {}, a.link), el("div", { class: "meta" }, `${a.message} · raised ${fmtAgo(a.raised_s, snap.now_s)}`));
    list.append(li);
  }
  if (!snap.alarms.active.length) list.append(el("li", { class: "empty" }, "no active alarm"));
  const history = $("alarm-history");
  history.replaceChildren();
  for (const a of snap.alarms.cleared) {
    const li = el("li", { class: "cleared", "data-cleared-kind": a.kind });
    li.append(el("span", { class: "kind" }, `${a.kind} `), el("span", {}, a.link), el("div", { class: "meta" }, `${fmtTime(a.raised_s)}–${fmtTime(a.cleared_s)} UTC · ${a.message}`));
    history.append(li);
  }
  if (!snap.alarms.cleared.length) history.append(el("li", { class: "empty" }, "none cleared yet"));
}
function renderAttacks(snap) {
  const list = $("attacks");
  list.replaceChildren();
  for (const a of snap.attacks) {
    const what = a.kind === "fibre-cut" ? "fibre cut" : `intercept-resend on ${(100 * a.intercept_resend).toFixed(0)} % of pulses`;
    const li = el("li", { class: "attack", "data-attack": a.link });
    li.append(el("span", { class: "kind" }, `${a.link} `), el("span", {}, what), el("div", { class: "meta" }, `${a.in_effect ? "in effect" : "pending"} from block ${a.from_block}`));
    list.append(li);
  }
  if (!snap.attacks.length) list.append(el("li", { class: "empty" }, "no simulated attack"));
}
function renderRoutes(snap) {
  const list = $("routes");
  list.replaceChildren();
  for (const r of snap.routes.slice(0, 8)) {
    const li = el("li", { class: r.error ? "route failed" : "route", "data-route": r.kmes.join(">") });
    li.append(el("span", { class: "kind" }, r.error ? `${r.from} → ${r.to} refused` : r.kmes.join(" → ")),
      el("div", { class: "meta" }, `${fmtTime(r.at_s)} UTC · ${fmtBits(r.key_bits)}${r.error ? ` · ${r.error}` : ` · ${r.kmes.length - 1} hops`}`));
    list.append(li);
  }
  if (!snap.routes.length) list.append(el("li", { class: "empty" }, "no relay yet"));
}
function renderTables() {
  const snap = state.snapshot;
  if (!snap) return;
  const scale = rateScale(snap.links);
  const body = $("links");
  body.replaceChildren();
  for (const l of snap.links) {
    const key = `link:${l.id}`, cond = linkCondition(l);
    const tr = el("tr", { "data-key": key, "data-link-row": l.id });
    if (state.selected === key) tr.classList.add("selected");
    tr.addEventListener("click", () => select(key));
    const status = el("td");
    status.append(el("span", { class: `status ${cond}` }, cond === "up" ? "up" : cond === "qber" ? "QBER" : cond));
    const rateCell = el("td"), keyCell = el("td");
    rateCell.append(spark(state.series[key], 1, linkColour(l, scale)));
    keyCell.append(spark(state.series[key], 2, "#39c5ff"));
    tr.append(el("td", {}, l.id), status, el("td", { class: "num", "data-figure": `eskr-${l.id}` }, l.status === "up" ? fmtRate(l.eskr_bps) : "–"), rateCell,
      el("td", { class: "num" }, l.status === "up" ? fmtQber(l.qber) : "–"), el("td", { class: "num", "data-figure": `key-${l.id}` }, fmtBits(l.key_bits)), keyCell);
    body.append(tr);
  }
  const cards = $("kmes");
  cards.replaceChildren();
  for (const n of snap.nodes) {
    const key = `kme:${n.id}`;
    const card = el("div", { class: "card", "data-key": key, "data-kme": n.id });
    if (state.selected === key) card.style.borderColor = "#39c5ff";
    card.addEventListener("click", () => select(key));
    const name = el("div", { class: "name" }, n.id);
    name.append(el("span", { class: `status ${n.status}` }, n.status));
    card.append(name, el("div", { class: "fig", "data-figure": `kme-key-${n.id}` }, fmtBits(n.key_bits)),
      el("div", { class: "sub" }, `in store · ${fmtBits(n.consumed_bits)} delivered`), spark(state.series[key], 1, "#2ecc8f", 150, 24));
    cards.append(card);
  }
}

// -- live updates -------------------------------------------------------------------------------------------
function apply(snap, fresh) {
  const redraw = !state.snapshot || state.snapshot.nodes.length !== snap.nodes.length;
  state.snapshot = snap;
  state.lastEvent = Date.now();
  if (!fresh) record(snap);
  renderHeader(snap);
  if (redraw) drawMap(); else updateMap();
  renderAlarms(snap);
  renderAttacks(snap);
  renderRoutes(snap);
  renderTables();
}
function setLive(live, text) {
  $("live-dot").className = `dot ${live ? "live" : "stale"}`;
  $("live-text").textContent = text;
  document.body.dataset.live = live ? "1" : "0";
}
async function start() {
  try {
    state.outlines = await (await fetch("/dashboard/static/europe.json")).json();
  } catch (error) { state.outlines = null; }
  const first = await (await fetch("/dashboard/api/snapshot", { credentials: "same-origin" })).json();
  state.series = {};
  for (const [key, points] of Object.entries(first.history || {})) state.series[key] = points;
  apply(first, true);
  const source = new EventSource("/dashboard/api/events");
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    apply(snap, false);
    setLive(true, snap.replay ? `replay, frame ${snap.replay.frame + 1} of ${snap.replay.frames}` : "live");
  });
  source.onerror = () => setLive(false, "reconnecting");
  setInterval(() => { if (Date.now() - state.lastEvent > 5000) setLive(false, "stale"); }, 1000);
  window.addEventListener("resize", () => drawMap());
}
start();
