// Quantum Trader dashboard, part 2 of 4: the header, banner, tables and checklists (plain DOM, no framework).
"use strict";

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
  const reasons = Array.isArray(h.reasons) ? h.reasons : [];
  status.title = reasons.length ? reasons.join("\n") : "/health";  // why it is not healthy, the worst first
  const why = $("health-reasons");
  why.textContent = reasons.length ? text(h.status) + ": " + reasons.join(" · ") : "";
  why.hidden = reasons.length === 0;
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
    " · uptime " + Math.round(h.uptime_s || 0) + " s" + dailyLossText(h.daily_loss);
}

// The daily loss limit: how far equity may fall today before it cancels, flattens and halts entries.
function dailyLossText(d) {
  if (!d) return "";
  if (d.floor === null || d.floor === undefined) {
    return d.day_start_equity ? " · daily loss limit " + d.limit_pct + " %: reached today" : "";
  }
  return " · daily loss limit " + d.limit_pct + " %: flattens and halts at " + d.floor + " USDT (day start " +
    d.day_start_equity + ")";
}

function renderBanner(snap) {
  const items = [];
  for (const p of (snap.positions && snap.positions.positions) || []) {
    if (p.status === "UNPROTECTED") {
      const seconds = (snap.unprotected_s || {})[p.symbol];
      items.push(["bad", p.symbol + " " + p.side + " is UNPROTECTED" + (seconds !== undefined ? " for " + seconds +
        " s" : "") + ": no working stop-loss on the exchange; " + (snap.repair || "the monitor is repairing it") +
        "."]);
    }
  }
  const h = snap.health || {};
  if (h.trading === "HALTED") items.push(["warn", "New entries are halted (" +
    (h.halt && h.halt.reason ? h.halt.reason : "kill switch or a lost component") + "). " +
    "Open positions keep their stops. Resume when you have looked."]);
  if (h.status === "unhealthy") items.push(["bad", "The bot reports itself UNHEALTHY: see /health."]);
  if (snap.error) items.push(["warn", "The live snapshot failed (" + snap.error + "); retrying."]);
  if (state.killMessage) items.push(state.killMessage);
  banner(items);
}

// --- the AI scanner's tally (/health's `scanner`: absent with sma-cross and manual, and so is the panel) --------
// Why a scanning bot trades nothing, at a glance: how far its best confidence is from the threshold, whether it
// still scans, and what risk refused of its signals in risk's own words.
function thousands(value) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"); }
function ago(seconds) {
  const s = Number(seconds), whole = Math.floor(s);
  if (s < 10) return s.toFixed(1) + " s";
  if (s < 120) return whole + " s";
  if (s >= 3600) return (s / 3600).toFixed(1) + " h";
  return Math.floor(whole / 60) + " min" + (whole % 60 ? " " + (whole % 60) + " s" : "");
}
function share(part, whole) {
  if (!whole) return null;
  const pct = part / whole * 100;
  return pct > 0 && pct < 0.1 ? "< 0.1 %" : pct.toFixed(1) + " %";
}
function figure(box, label, value, cls, note) {
  const fig = document.createElement("div");
  fig.className = "fig";
  const name = document.createElement("div");
  name.className = "label";
  name.textContent = label;
  const shown = document.createElement("div");
  shown.className = "value " + (cls || "");
  shown.append(value);
  fig.append(name, shown);
  if (note) {
    const small = document.createElement("div");
    small.className = "muted small";
    small.textContent = note;
    fig.appendChild(small);
  }
  box.appendChild(fig);
  return fig;
}
// A side's best confidence on a 0 to 1 track, min_confidence a tick on it: how far from trading.
function meter(best, threshold) {
  const track = document.createElement("span");
  track.className = "meter";
  const bar = document.createElement("span");
  bar.className = "fill" + (best !== null && threshold !== null && best >= threshold ? " reached" : "");
  bar.style.width = Math.round(Math.min(Math.max(Number(best) || 0, 0), 1) * 100) + "%";
  track.appendChild(bar);
  if (threshold !== null && threshold !== undefined) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.style.left = Math.round(Number(threshold) * 100) + "%";
    track.appendChild(tick);
  }
  return track;
}
function confidenceVerdict(sc) {
  const min = sc.min_confidence;
  const sides = [["long", sc.best_long], ["short", sc.best_short]].filter(([, best]) => best !== null);
  if (!sides.length) return ["muted", "nothing scored yet"];
  const reached = sides.filter(([, best]) => min !== null && best >= min);
  if (!reached.length) return ["warn", "nothing reaches " + text(min) + ": best long " + text(sc.best_long) +
    ", short " + text(sc.best_short)];
  return ["ok", reached.map(([side, best]) => side + " reached " + text(min) + " (best " + best + ")").join(", ")];
}
function renderScanner(h) {
  const sc = h.scanner;
  $("scanner-panel").hidden = !sc;
  if (!sc) return;
  const [verdict, words] = confidenceVerdict(sc);
  const summary = $("scanner-summary");
  summary.textContent = words;
  summary.className = verdict;
  const box = $("scanner-figures");
  box.replaceChildren();
  figure(box, "scored", thousands(sc.symbol_bars_scored) + " symbol-bars", "", "last bar: " + text(sc.scored_last_bar) +
    " of " + text(sc.symbols) + " symbols");
  for (const [side, best] of [["long", sc.best_long], ["short", sc.best_short]]) {
    const shown = document.createElement("span");
    shown.append(meter(best, sc.min_confidence), text(best));
    figure(box, "best " + side, shown, best !== null && best >= sc.min_confidence ? "ok" : "",
           "min confidence " + text(sc.min_confidence));
  }
  const scanned = sc.last_scan_age_s === null ? "none yet" : ago(sc.last_scan_age_s) + " ago";
  figure(box, "last scan", (sc.stale ? "STALE: " : "") + scanned, sc.stale ? "warn" : "",
         "stale after " + ago(sc.stale_after_s) + " without a scan").title = "last scan " + utc(sc.last_scan_ms) + " UTC";
  const risk = sc.risk || {};
  figure(box, "risk decided", thousands(risk.signals) + " signals", risk.refused && !risk.approved ? "warn" : "",
         thousands(risk.approved) + " approved · " + thousands(risk.refused) + " refused");
  const kinds = Object.entries(risk.by_kind || {});
  fill("refusals", kinds, (row, [kind, seen]) => {
    cell(row, kind);
    cell(row, thousands(seen.count));
    cell(row, share(seen.count, risk.signals));
    cell(row, seen.example, "wrap small");
  }, risk.signals ? "risk refused none of its signals" : "no signal reached risk yet");
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
  row.dataset.symbol = p.symbol;  // selected on press by the table body's listener (dashboard.js)
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
  for (const key of ["symbol", "side", "type", "trigger_price", "price"]) cell(row, o[key]);
  // Binance reports a closePosition order's quantity as 0: "0" read like a stop that closes nothing.
  cell(row, o.close_position && Number(o.quantity) === 0 ? "whole position" : o.quantity, o.close_position ? "muted" : "");
  cell(row, o.close_position ? "closePosition" : o.reduce_only ? "reduceOnly" : "");
  cell(row, o.working_type);
  cell(row, o.role);
  cell(row, (o.flags || []).join(", "), (o.flags || []).length ? "bad" : "");
}

// --- journal-backed panels --------------------------------------------------------------------------
// USDT amounts are shown to the cent like the positions' P&L; the journal's exact figure is the cell's hover.
function exact(td, value) { if (value !== null && value !== undefined) td.title = String(value); return td; }
// The newest closed positions the audit table shows; the API sends only those (its summary counts them all).
const AUDIT_ROWS = 50;
function renderAudit(doc) {
  const s = doc.summary || {};
  $("audit-summary").textContent = text(s.trades) + " closed · " + text(s.breaches) + " breaches · worst stop-loss " +
    "slippage " + text(s.worst_slippage_bps) + " bps (stop-loss fills vs trigger only; other exits have none)";
  const rows = (doc.positions || []).slice().reverse().slice(0, AUDIT_ROWS);
  fill("audit", rows, (row, a) => {
    if (a.breach) row.className = "breach";
    cell(row, a.symbol);
    cell(row, a.exit_reason);
    cell(row, a.planned_stop);
    cell(row, a.exit_price);
    cell(row, a.slippage_bps, Number(a.slippage_bps) > 0 ? "warn" : "");
    exact(cell(row, usd(a.planned_loss)), a.planned_loss);
    exact(cell(row, usd(a.realised && a.realised.usdt), signClass(a.realised && a.realised.usdt)),
      a.realised && a.realised.usdt);
    cell(row, a.realised && a.realised.pct_equity, signClass(a.realised && a.realised.pct_equity));
    // The audit's own word (ok, BREACH, BREACH (gap), unknown) as the API sends it: the CLI and the alerts say
    // the same, since all three take it from trading/audit.py.
    cell(row, a.verdict, a.breach ? "bad" : "muted").title = a.breach_reason || "";
  }, "no closed positions yet");
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
    // The evidence in the CLI's words (the API's `text`, `fix` and `sessions_text`, worded once in
    // readmodels/readiness_words.py); the documents themselves stay in the API's `evidence`.
    const ev = document.createElement("div");
    ev.className = "evidence";
    ev.textContent = item.text;
    ev.title = item.sessions_text || "";
    li.appendChild(ev);
    if (item.fix) {
      const fix = document.createElement("div");
      fix.className = "evidence fix";
      fix.textContent = "fix: " + item.fix;
      li.appendChild(fix);
    }
    list.appendChild(li);
  }
}
// What became of a signal (the API's `outcome`): "traded" only when its entry reached the exchange and filled.
const OUTCOME_WORDS = {
  traded: ["traded", "ok"], dry_run: ["dry run", "muted"], not_sent: ["approved, not sent", "warn"],
  rejected: ["approved, rejected", "bad"], not_filled: ["approved, not filled", "warn"],
  sending: ["approved, sending", "muted"], refused: ["refused", "muted"],
};
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
    const [word, style] = OUTCOME_WORDS[s.outcome] || ["–", "muted"];
    cell(row, word, style).title = s.outcome_detail || (s.decision || {}).reason || "";
    const reasons = (s.reasons || []).map((r) => r.feature + " " + (r.contribution > 0 ? "+" : "") +
      Number(r.contribution).toFixed(3)).join(", ");
    // A signal the strategy gave no reasons for (sma-cross) still says why it did not trade: "refused -" told
    // a user nothing, the refusal lived only in the hover.
    const detail = s.outcome !== "traded" ? (s.outcome_detail || (s.decision || {}).reason || "") : "";
    const fate = detail.startsWith(s.symbol + ": ") ? detail.slice(s.symbol.length + 2) : detail;  // the row says it
    const why = [reasons || s.reason, fate].filter(Boolean).join(" · ");
    cell(row, why, reasons ? "wrap small" : "rest small").title = why;
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
    exact(cell(row, usd(t.realized_pnl), signClass(t.realized_pnl)), t.realized_pnl);
    exact(cell(row, usd(t.fees)), t.fees);
  }, "no trades yet");
}
async function refreshHeavy() {
  if (state.heavyBusy) return;
  state.heavyBusy = true;
  state.heavyAt = Date.now();
  try {
    const [audit, readiness, signals, activity, trades, equityDoc] = await Promise.all(
      ["/api/v1/audit?limit=" + AUDIT_ROWS, "/api/v1/readiness", "/api/v1/signals?limit=25",
       "/api/v1/activity?limit=40", "/api/v1/trades?limit=30", "/api/v1/equity?limit=2000"].map(getJson));
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
