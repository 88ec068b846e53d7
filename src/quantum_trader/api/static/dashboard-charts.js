// Quantum Trader dashboard, part 3 of 4: the price chart (candles, entry/stop/take-profit/liquidation lines,
// fills) and the equity curve with its drawdown, drawn with the vendored Lightweight Charts.
"use strict";

// --- the price chart --------------------------------------------------------------------------------
// Room right of the latest bar, in pixels whatever the zoom: a fill's label ("SELL 0.013 @ 104523.4") is centred
// on its bar, and a position just opened or closed has its fills on the latest bar, so half the label ran under the
// price scale and was cut off. 110 px holds half of a 30-character label (12 px font).
const LABEL_ROOM_PX = 110;
function chartOptions(timeScale = {}) {
  return { autoSize: true, layout: { background: { color: COLORS.panel }, textColor: COLORS.text, attributionLogo: true },
           grid: { vertLines: { color: COLORS.line }, horzLines: { color: COLORS.line } },
           timeScale: { timeVisible: true, secondsVisible: false, borderColor: COLORS.line, ...timeScale },
           rightPriceScale: { borderColor: COLORS.line } };
}
const price = { chart: null, series: null, markers: null };
const equity = { chart: null, line: null, drawdown: null };
function makeCharts() {
  if (!LWC) { $("chart-title").textContent = "charting library missing"; return; }
  price.chart = LWC.createChart($("price-chart"), chartOptions({ rightOffsetPixels: LABEL_ROOM_PX }));
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
  showTick(bars.tick_size);
  const data = (bars.candles || []).map((c) => ({ time: c.time, open: Number(c.open), high: Number(c.high),
                                                  low: Number(c.low), close: Number(c.close) }));
  price.series.setData(data);
  state.candleTimes = data.map((c) => c.time);
  state.markers = fillMarkers(fills.fills || []);
  price.markers.setMarkers(state.markers);
  drawLines();
}
function showTick(tick) {
  // The price axis, its labels and the price lines to the symbol's tick (the library's default is 0.01).
  if (!tick) return;
  const decimals = tick.includes(".") ? tick.split(".")[1].length : 0;
  price.series.applyOptions({ priceFormat: { type: "price", precision: decimals, minMove: Number(tick) } });
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
function lastLabelOverflow() {
  // How far (px) the latest fill's label reaches past the plot's right edge; <= 0: all of it shows (browser tests).
  const last = state.markers[state.markers.length - 1];
  const x = last && price.chart ? price.chart.timeScale().timeToCoordinate(last.time) : null;
  if (x === null) return null;
  const layout = price.chart.options().layout;
  const context = document.createElement("canvas").getContext("2d");
  context.font = layout.fontSize + "px " + layout.fontFamily;
  return x + context.measureText(last.text).width / 2 - price.chart.timeScale().width();
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
