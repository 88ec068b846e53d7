// Quantum Trader dashboard: one page, live over server-sent events, every asset served by the bot itself.
// The stream (/api/v1/stream) carries what changes every second (health, positions, orders, unprotected
// seconds); the journal-backed panels are fetched again only when the stream's `revision` moves.
"use strict";

const LWC = window.LightweightCharts;
const COLORS = { text: "#d8dee9", muted: "#7b8494", line: "#2e3440", panel: "#151b23", accent: "#88c0d0",
                 ok: "#a3be8c", warn: "#ebcb8b", bad: "#bf616a", liq: "#d08770" };
const STATUS_CLASS = { healthy: "ok", degraded: "warn", unhealthy: "bad", ACTIVE: "ok", HALTED: "bad",
                       PROTECTED: "ok", NO_TAKE_PROFIT: "warn", UNPROTECTED: "bad" };
const HEAVY_EVERY_MS = 1500;     // at most this often when the revision moves
const HEAVY_AT_LEAST_MS = 10000; // and at least this often (equity moves without a journal event)

const state = { snapshot: null, revision: null, heavyAt: 0, selected: null, barTime: null, candlesAt: 0,
                candleTimes: [], lines: [], markers: [], snapshots: 0, heavyBusy: false, streamOk: false };

// --- small helpers ----------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
function text(value) { return value === null || value === undefined || value === "" ? "–" : String(value); }
function cell(row, value, cls) {
  const td = row.insertCell();
  td.textContent = text(value);
  if (cls) td.className = cls;
  return td;
}
function signClass(value) { return Number(value) < 0 ? "neg" : Number(value) > 0 ? "pos" : ""; }
function signed(value) { return value === null || value === undefined ? null : (Number(value) > 0 ? "+" : "") + value; }
function usd(value) { return value === null || value === undefined ? null : Number(value).toFixed(2); }
function utc(ms) { return ms ? new Date(Number(ms)).toISOString().replace("T", " ").slice(5, 19) : "–"; }
function fill(id, rows, render, empty = "none") {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  for (const item of rows) render(body.insertRow(), item);
  if (!rows.length) {
    const td = cell(body.insertRow(), empty, "muted");
    td.colSpan = document.querySelectorAll("#" + id + " thead th").length || 1;
  }
}
async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 401) { window.location.assign("/"); throw new Error("signed out"); }
  if (!response.ok && response.status !== 503) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}
function banner(items) {
  const box = $("banner");
  box.replaceChildren();
  for (const [cls, message] of items) {
    const line = document.createElement("span");
    line.className = cls;
    line.textContent = message;
    box.appendChild(line);
  }
}

// --- header -----------------------------------------------------------------------------------------
function renderHeader(snap) {
  const h = snap.health || {};
  const mode = $("mode");
  mode.textContent = String(h.mode || "?").toUpperCase();
  mode.className = "mode " + (h.mode || "");
  document.title = mode.textContent + " · Quantum Trader";
  const status = $("status");
  status.textContent = text(h.status);
  status.className = "pill " + (STATUS_CLASS[h.status] || "muted");
  const trading = $("trading");
  trading.textContent = h.trading === "HALTED" ? "ENTRIES HALTED" : text(h.trading);
  trading.className = "pill " + (STATUS_CLASS[h.trading] || "muted");
  $("resume").hidden = h.trading !== "HALTED";
  $("equity").textContent = text(usd(snap.positions && snap.positions.equity));
  const today = snap.pnl_today || {};
  const todayEl = $("today");
  todayEl.textContent = signed(usd(today.usdt)) + " USDT" + (today.pct !== null && today.pct !== undefined
    ? " (" + signed(today.pct) + " %)" : "");
  todayEl.className = signClass(today.usdt);
  $("position-count").textContent = text(h.positions);
  const monitor = h.monitor || {};
  $("health-detail").textContent = "exchange " + text(h.exchange) + " · feed " + text(h.feed) +
    " · strategy " + text(h.strategy) + (h.strategy_status ? " (" + h.strategy_status + ")" : "") +
    " · last sweep " + text(monitor.last_sweep_age_s) + " s ago · monitor errors " + text(monitor.errors) +
    " · uptime " + Math.round(h.uptime_s || 0) + " s";
}

function renderBanner(snap) {
  const items = [];
  for (const p of (snap.positions && snap.positions.positions) || []) {
    if (p.status === "UNPROTECTED") {
      const seconds = (snap.unprotected_s || {})[p.symbol];
      items.push(["bad", p.symbol + " " + p.side + " is UNPROTECTED" + (seconds !== undefined ? " for " + seconds +
        " s" : "") + ": no working stop-loss on the exchange; the monitor is repairing it."]);
    }
  }
  const h = snap.health || {};
  if (h.trading === "HALTED") items.push(["warn", "New entries are halted (kill switch or a lost component). " +
    "Open positions keep their stops. Resume when you have looked."]);
  if (h.status === "unhealthy") items.push(["bad", "The bot reports itself UNHEALTHY: see /health."]);
  if (snap.error) items.push(["warn", "The live snapshot failed (" + snap.error + "); retrying."]);
  if (state.killMessage) items.push(state.killMessage);
  banner(items);
}

// --- positions and orders ---------------------------------------------------------------------------
function distance(trigger, mark) {
  if (!trigger || !mark) return null;
  const pct = (Number(trigger) - Number(mark)) / Number(mark) * 100;
  return Math.abs(pct).toFixed(2) + " % " + (pct < 0 ? "below" : "above");
}
function protectionCell(row, p, mark, missingClass) {
  if (!p) return cell(row, "none", missingClass);
  const td = cell(row, text(p.trigger_price) + (mark ? " · " + text(distance(p.trigger_price, mark)) : ""));
  const kind = document.createElement("div");
  kind.className = "muted small";
  kind.textContent = p.type;
  td.appendChild(kind);
  td.title = p.type + " " + text(p.trigger_price) + " (" + p.client_id + ")";
  return td;
}
function renderPosition(row, p, snap) {
  row.className = "selectable" + (p.symbol === state.selected ? " selected" : "");
  row.dataset.symbol = p.symbol;
  row.addEventListener("click", () => selectSymbol(p.symbol));
  for (const key of ["symbol", "side", "size", "entry", "mark"]) cell(row, p[key]);
  cell(row, p.leverage + "x");
  cell(row, usd(p.unrealized_pnl), signClass(p.unrealized_pnl));
  cell(row, p.pnl_pct_notional, signClass(p.pnl_pct_notional));
  cell(row, p.roe_pct, signClass(p.roe_pct));
  cell(row, p.pnl_pct_equity, signClass(p.pnl_pct_equity));
  cell(row, p.liquidation_price);
  protectionCell(row, p.stop_loss, p.mark, "bad");
  protectionCell(row, p.take_profit, null, "warn");
  const status = row.insertCell();
  const badge = document.createElement("span");
  badge.className = "badge " + (STATUS_CLASS[p.status] || "");
  const seconds = (snap.unprotected_s || {})[p.symbol];
  badge.textContent = p.status + (p.status === "UNPROTECTED" && seconds !== undefined ? " " + seconds + " s" : "");
  status.appendChild(badge);
}
function renderOrder(row, o) {
  for (const key of ["symbol", "side", "type", "trigger_price", "price", "quantity"]) cell(row, o[key]);
  cell(row, o.close_position ? "closePosition" : o.reduce_only ? "reduceOnly" : "");
  cell(row, o.working_type);
  cell(row, o.role);
  cell(row, (o.flags || []).join(", "), (o.flags || []).length ? "bad" : "");
}

// --- the price chart --------------------------------------------------------------------------------
function chartOptions() {
  return { autoSize: true, layout: { background: { color: COLORS.panel }, textColor: COLORS.text, attributionLogo: true },
           grid: { vertLines: { color: COLORS.line }, horzLines: { color: COLORS.line } },
           timeScale: { timeVisible: true, secondsVisible: false, borderColor: COLORS.line },
           rightPriceScale: { borderColor: COLORS.line } };
}
const price = { chart: null, series: null, markers: null };
const equity = { chart: null, line: null, drawdown: null };
function makeCharts() {
  if (!LWC) { $("chart-title").textContent = "charting library missing"; return; }
  price.chart = LWC.createChart($("price-chart"), chartOptions());
  price.series = price.chart.addSeries(LWC.CandlestickSeries, { upColor: COLORS.ok, downColor: COLORS.bad,
    borderVisible: false, wickUpColor: COLORS.ok, wickDownColor: COLORS.bad, autoscaleInfoProvider: withLines });
  price.markers = LWC.createSeriesMarkers(price.series, []);
  equity.chart = LWC.createChart($("equity-chart"), chartOptions());
  equity.line = equity.chart.addSeries(LWC.LineSeries, { color: COLORS.accent, lineWidth: 2, title: "equity" });
  equity.drawdown = equity.chart.addSeries(LWC.AreaSeries, { lineColor: COLORS.bad, topColor: "rgba(191,97,106,0.05)",
    bottomColor: "rgba(191,97,106,0.45)", lineWidth: 1, title: "drawdown %", invertFilledArea: true }, 1);
}
function withLines(original) {
  // Keep entry, stop and take-profit in view: a stop drawn off-screen is a stop nobody sees.
  const range = original();
  const levels = state.lines.filter((l) => l.title !== "Liq").map((l) => Number(l.price));
  if (!range || !levels.length) return range;
  const { minValue, maxValue } = range.priceRange;
  return { priceRange: { minValue: Math.min(minValue, ...levels), maxValue: Math.max(maxValue, ...levels) },
           margins: range.margins };
}
function selectSymbol(symbol) {
  if (symbol === state.selected) return;
  state.selected = symbol;
  state.barTime = null;
  document.querySelectorAll("#positions tbody tr").forEach(
    (tr) => tr.classList.toggle("selected", tr.dataset.symbol === symbol));
  refreshCandles(true);
}
async function refreshCandles(force) {
  const symbol = state.selected;
  if (!symbol || !price.series) return;
  const snap = state.snapshot || {};
  if (!force && state.barTime === snap.bar_open_time_ms && Date.now() - state.candlesAt < 15000) return;
  state.barTime = snap.bar_open_time_ms;
  state.candlesAt = Date.now();
  const [bars, fills] = await Promise.all([getJson("/api/v1/candles?symbol=" + symbol),
                                           getJson("/api/v1/fills?limit=200&symbol=" + symbol)]);
  if (symbol !== state.selected) return;
  const data = (bars.candles || []).map((c) => ({ time: c.time, open: Number(c.open), high: Number(c.high),
                                                  low: Number(c.low), close: Number(c.close) }));
  price.series.setData(data);
  state.candleTimes = data.map((c) => c.time);
  state.markers = fillMarkers(fills.fills || []);
  price.markers.setMarkers(state.markers);
  drawLines();
}
function snapTime(seconds) {
  // A fill happens inside a bar that has not closed yet: mark it on the last closed bar at or before it.
  const times = state.candleTimes;
  let chosen = null;
  for (const t of times) { if (t <= seconds) chosen = t; else break; }
  return chosen;
}
function fillMarkers(fills) {
  const out = [];
  for (const f of fills.slice().reverse()) {
    const time = snapTime(Math.floor(Number(f.time_ms) / 1000));
    if (time === null) continue;
    const buy = f.side === "BUY";
    out.push({ time, position: buy ? "belowBar" : "aboveBar", color: buy ? COLORS.ok : COLORS.bad,
               shape: buy ? "arrowUp" : "arrowDown", text: f.side + " " + f.quantity + " @ " + f.price });
  }
  return out.sort((a, b) => a.time - b.time);
}
function drawLines() {
  if (!price.series) return;
  const positions = (state.snapshot && state.snapshot.positions && state.snapshot.positions.positions) || [];
  const p = positions.find((x) => x.symbol === state.selected);
  const key = JSON.stringify([state.selected, p && [p.side, p.size, p.entry, p.stop_loss, p.take_profit, p.liquidation_price]]);
  if (key === state.linesKey) return;  // twice a second: redraw only what changed
  state.linesKey = key;
  for (const line of state.lines) price.series.removePriceLine(line.handle);
  state.lines = [];
  const legend = $("chart-legend");
  legend.replaceChildren();
  $("chart-title").textContent = state.selected ? state.selected + (p ? " · " + p.side + " " + p.size : " · no open position")
                                                : "select a position";
  if (!p) return;
  const wanted = [["entry", "Entry", p.entry, COLORS.accent, 0], ["sl", "SL", p.stop_loss && p.stop_loss.trigger_price, COLORS.bad, 2],
                  ["tp", "TP", p.take_profit && p.take_profit.trigger_price, COLORS.ok, 2],
                  ["liq", "Liq", p.liquidation_price, COLORS.liq, 1]];
  for (const [cls, title, value, color, style] of wanted) {
    if (value === null || value === undefined) continue;
    const handle = price.series.createPriceLine({ price: Number(value), color, lineWidth: cls === "entry" ? 2 : 1,
                                                  lineStyle: style, axisLabelVisible: true, title });
    state.lines.push({ title, price: String(value), handle });
    const item = document.createElement("span");
    item.className = cls;
    item.textContent = title + " " + value;
    legend.appendChild(item);
  }
  if (!p.stop_loss) {
    const item = document.createElement("span");
    item.className = "sl bad";
    item.textContent = "NO STOP-LOSS";
    legend.appendChild(item);
  }
}

// --- equity and drawdown ----------------------------------------------------------------------------
function renderEquity(rows) {
  if (!equity.line) return;
  const byTime = new Map();
  for (const r of rows) byTime.set(Math.floor(Number(r.time_ms) / 1000), Number(r.equity));
  const points = [...byTime.entries()].sort((a, b) => a[0] - b[0]);
  let peak = -Infinity, worst = 0;
  const dd = points.map(([time, value]) => {
    peak = Math.max(peak, value);
    const pct = peak > 0 ? (value - peak) / peak * 100 : 0;
    worst = Math.min(worst, pct);
    return { time, value: pct };
  });
  equity.line.setData(points.map(([time, value]) => ({ time, value })));
  equity.drawdown.setData(dd);
  $("drawdown").textContent = points.length ? "max drawdown " + worst.toFixed(2) + " %" : "no snapshots yet";
}

// --- journal-backed panels --------------------------------------------------------------------------
function renderAudit(doc) {
  const s = doc.summary || {};
  $("audit-summary").textContent = text(s.trades) + " closed · " + text(s.breaches) + " breaches · worst slippage " +
    text(s.worst_slippage_bps) + " bps";
  const rows = (doc.positions || []).slice().reverse().slice(0, 50);
  fill("audit", rows, (row, a) => {
    if (a.breach) row.className = "breach";
    cell(row, a.symbol);
    cell(row, a.exit_reason);
    cell(row, a.planned_stop);
    cell(row, a.exit_price);
    cell(row, a.slippage_bps, Number(a.slippage_bps) > 0 ? "warn" : "");
    cell(row, a.planned_loss);
    cell(row, a.realised && a.realised.usdt, signClass(a.realised && a.realised.usdt));
    cell(row, a.realised && a.realised.pct_equity, signClass(a.realised && a.realised.pct_equity));
    cell(row, a.breach ? "BREACH" : "no", a.breach ? "bad" : "muted").title = a.breach_reason || "";
  }, "no closed positions yet");
}
function evidenceText(evidence) {
  const shown = {};
  for (const [key, value] of Object.entries(evidence || {})) {
    if (key === "sessions" || key === "not_counted") continue;
    shown[key] = Array.isArray(value) && value.length > 5 ? value.slice(0, 5).concat(["…"]) : value;
  }
  return JSON.stringify(shown);
}
function renderReadiness(doc) {
  const items = doc.items || [];
  $("readiness-summary").textContent = doc.ready ? "READY for live" : items.filter((i) => i.passed).length + " of " +
    items.length + " passed: not ready for live";
  const list = $("readiness");
  list.replaceChildren();
  for (const item of items) {
    const li = document.createElement("li");
    const mark = document.createElement("span");
    mark.className = "mark " + (item.passed ? "ok" : "bad");
    mark.textContent = item.passed ? "✓" : "✗";
    li.append(mark, item.name);
    const ev = document.createElement("div");
    ev.className = "evidence";
    ev.textContent = evidenceText(item.evidence);
    li.appendChild(ev);
    list.appendChild(li);
  }
}
function renderSignals(doc) {
  const signals = (doc.signals || []).slice(0, 25);
  $("signals-summary").textContent = signals.length ? "latest " + signals.length : "";
  fill("signals", signals, (row, s) => {
    cell(row, utc(s.time_ms));
    cell(row, s.symbol);
    cell(row, s.direction);
    const conf = row.insertCell();
    const bar = document.createElement("span");
    bar.className = "conf";
    bar.style.width = Math.round(Number(s.confidence || 0) * 60) + "px";
    conf.append(bar, Number(s.confidence || 0).toFixed(3));
    cell(row, s.expected_value === null || s.expected_value === undefined ? null
      : (Number(s.expected_value) * 100).toFixed(2) + " %");
    const decision = s.decision || {};
    cell(row, decision.approved ? "traded" : decision.reason ? "refused" : "–", decision.approved ? "ok" : "muted")
      .title = decision.reason || "";
    const reasons = (s.reasons || []).map((r) => r.feature + " " + (r.contribution > 0 ? "+" : "") +
      Number(r.contribution).toFixed(3)).join(", ");
    cell(row, reasons || s.reason, "wrap small");
  }, "no signals yet");
  const silent = $("no-signal");
  silent.replaceChildren();
  for (const n of (doc.no_signal || []).slice(0, 5)) {
    const li = document.createElement("li");
    li.textContent = "no signal " + utc(n.time_ms) + ": " + text(n.reason || n.message);
    silent.appendChild(li);
  }
}
function renderActivity(doc) {
  const rows = [];
  for (const a of doc.protection_actions || []) {
    rows.push({ time_ms: a.time_ms, symbol: a.symbol, what: a.action, detail: [a.order_type, a.price, a.reason]
      .filter((x) => x).join(" · "), bad: /emergency|fail|unknown|reject/.test(a.action) });
  }
  for (const e of doc.errors || []) {
    rows.push({ time_ms: e.time_ms, symbol: e.component, what: e.fatal ? "FATAL error" : "error", detail: e.message,
                bad: true });
  }
  rows.sort((a, b) => b.time_ms - a.time_ms);
  fill("activity", rows.slice(0, 40), (row, r) => {
    cell(row, utc(r.time_ms));
    cell(row, r.symbol);
    cell(row, r.what, r.bad ? "bad" : "");
    cell(row, r.detail, "wrap small");
  }, "nothing yet");
}
function renderTrades(doc) {
  fill("trades", (doc.trades || []).slice(0, 30), (row, t) => {
    cell(row, utc(t.opened_ms));
    for (const key of ["symbol", "direction", "quantity", "entry", "planned_stop", "planned_take_profit", "status",
                       "exit_price", "exit_reason"]) cell(row, t[key]);
    cell(row, t.realized_pnl, signClass(t.realized_pnl));
  }, "no trades yet");
}
async function refreshHeavy() {
  if (state.heavyBusy) return;
  state.heavyBusy = true;
  state.heavyAt = Date.now();
  try {
    const [audit, readiness, signals, activity, trades, equityDoc] = await Promise.all(
      ["/api/v1/audit", "/api/v1/readiness", "/api/v1/signals?limit=25", "/api/v1/activity?limit=40",
       "/api/v1/trades?limit=30", "/api/v1/equity?limit=2000"].map(getJson));
    renderAudit(audit);
    renderReadiness(readiness);
    renderSignals(signals);
    const open = (state.snapshot && state.snapshot.positions && state.snapshot.positions.positions) || [];
    if (!state.selected && !open.length && (signals.signals || []).length) {
      selectSymbol(signals.signals[0].symbol);  // nothing open: watch what the scanner likes best
    }
    renderActivity(activity);
    renderTrades(trades);
    renderEquity(equityDoc.equity || []);
  } catch (error) {
    state.heavyError = error.message;
  } finally {
    state.heavyBusy = false;
  }
}

// --- live updates -----------------------------------------------------------------------------------
function onSnapshot(snap) {
  state.snapshot = snap;
  state.snapshots += 1;
  if (snap.error) { renderBanner(snap); return; }
  renderHeader(snap);
  renderBanner(snap);
  const positions = (snap.positions && snap.positions.positions) || [];
  if ((!state.selected || !positions.some((p) => p.symbol === state.selected)) && positions.length) {
    selectSymbol(positions[0].symbol);
  }
  fill("positions", positions, (row, p) => renderPosition(row, p, snap), "no open positions");
  fill("orders", ((snap.orders && snap.orders.groups) || []).flatMap((g) => g.orders || [])
    .concat((snap.orders && snap.orders.orphans) || []), renderOrder, "no open orders");
  drawLines();
  refreshCandles(false).catch(() => {});
  const now = Date.now();
  if ((snap.revision !== state.revision && now - state.heavyAt > HEAVY_EVERY_MS) || now - state.heavyAt > HEAVY_AT_LEAST_MS) {
    state.revision = snap.revision;
    refreshHeavy();
  }
}
function setLive(ok, message) {
  state.streamOk = ok;
  const live = $("live");
  live.textContent = ok ? "● live" : "○ " + message;
  live.className = ok ? "ok" : "warn";
}
function connect() {
  if (!window.EventSource) {  // very old browsers: poll the same document
    setLive(false, "polling");
    const poll = () => getJson("/api/v1/live").then(onSnapshot).catch(() => {});
    poll();
    setInterval(poll, 2000);
    return;
  }
  const source = new EventSource("/api/v1/stream");
  source.addEventListener("snapshot", (event) => { setLive(true); onSnapshot(JSON.parse(event.data)); });
  source.addEventListener("error", () => setLive(false, "reconnecting…"));  // EventSource retries by itself
}

// --- the kill switch --------------------------------------------------------------------------------
function askKill() {
  const count = (state.snapshot && state.snapshot.health && state.snapshot.health.positions) || 0;
  $("kill-question").textContent = "Cancel every order, close " + (count === 1 ? "the open position" : "all " + count +
    " open positions") + " and stop new entries?";
  $("kill-dialog").showModal();
}
async function postControl(path) {
  const response = await fetch(path, { method: "POST", credentials: "same-origin",
                                       headers: { "X-QT-Dashboard": "1", Accept: "application/json" } });
  let body = {};
  try { body = await response.json(); } catch (_) { body = {}; }
  return { response, body };
}
function refusal(response, body) {
  if (response.status === 401) return "Refused: this bot needs its API token (QT_API_TOKEN). Sign in at /login " +
    "with it, then press the button again.";
  if (response.status === 403) return "Refused: " + text(body.detail) + ".";
  return "Refused (HTTP " + response.status + "): " + text(body.detail || body.error) + ".";
}
async function killSwitch() {
  const button = $("kill");
  button.disabled = true;
  state.killMessage = ["warn", "Kill switch: closing everything…"];
  try {
    const { response, body } = await postControl("/api/v1/kill-switch");
    if (response.ok) {
      state.killMessage = [body.refused ? "bad" : "ok", "Kill switch: " + text(body.summary) + " (" +
        text(body.closed_positions) + " closed, " + text(body.cancelled_orders) + " orders cancelled" +
        (body.refused ? ", " + body.refused + " refused" : "") + "). New entries are halted."];
    } else {
      state.killMessage = ["bad", refusal(response, body)];
    }
  } catch (error) {
    state.killMessage = ["bad", "Kill switch failed to reach the bot: " + error.message];
  } finally {
    button.disabled = false;
    if (state.snapshot) renderBanner(state.snapshot);
    refreshHeavy();
  }
}
async function resume() {
  const { response, body } = await postControl("/api/v1/resume");
  state.killMessage = response.ok ? ["ok", "Entries resumed."] : ["bad", refusal(response, body)];
  if (state.snapshot) renderBanner(state.snapshot);
}

// --- start ------------------------------------------------------------------------------------------
window.qtDashboard = {  // read by the browser tests and handy in a console
  state,
  chart: () => ({ symbol: state.selected, candles: state.candleTimes.length, markers: state.markers.length,
                  lines: state.lines.map((l) => ({ title: l.title, price: l.price })) }),
};
document.addEventListener("DOMContentLoaded", () => {
  makeCharts();
  $("kill").addEventListener("click", askKill);
  $("resume").addEventListener("click", () => resume().catch(() => {}));
  $("kill-dialog").addEventListener("close", () => {
    if ($("kill-dialog").returnValue === "confirm") killSwitch();
  });
  connect();
  refreshHeavy();
});
