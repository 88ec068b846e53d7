// Quantum Trader dashboard, part 4 of 4: live updates over server-sent events, the kill switch, start-up.
// The page loads dashboard-common.js, -panels.js and -charts.js first; they share globals (no bundler, no build).
"use strict";

// --- live updates -----------------------------------------------------------------------------------
function onSnapshot(snap) {
  state.snapshot = snap;
  state.snapshots += 1;
  if (snap.error) { renderBanner(snap); return; }
  renderHeader(snap);
  renderBanner(snap);
  renderScanner(snap.health || {});
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
    if (response.ok) {  // a position still open, or an account it could not read, is no "done"
      const notFlat = (body.still_open || []).length > 0 || Boolean(body.positions_unknown);
      state.killMessage = [body.refused || notFlat ? "bad" : "ok", (notFlat ? "Kill switch NOT done: " : "Kill switch: ") +
        text(body.summary) + (body.refused ? " (" + body.refused + " refused)" : "") + ". New entries are halted."];
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
                  lines: state.lines.map((l) => ({ title: l.title, price: l.price })),
                  priceFormat: price.series ? price.series.options().priceFormat : null,
                  labelOverflow: lastLabelOverflow() }),
};
document.addEventListener("DOMContentLoaded", () => {
  makeCharts();
  $("kill").addEventListener("click", askKill);
  // A position is chosen when the button goes down, on the body that outlives its rows: every snapshot
  // re-renders the rows, and a click whose press and release straddled one reached neither row (lost).
  $("positions").tBodies[0].addEventListener("pointerdown", (event) => {
    const row = event.button === 0 && event.target.closest("tr[data-symbol]");
    if (row) selectSymbol(row.dataset.symbol);
  });
  $("resume").addEventListener("click", () => resume().catch(() => {}));
  $("kill-dialog").addEventListener("close", () => {
    if ($("kill-dialog").returnValue === "confirm") killSwitch();
  });
  connect();
  refreshHeavy();
});
