"""The few lines of JavaScript a backtest report runs: draw the time series with the inlined library.

Kept as a string beside the Python that writes the data it reads (`#report-data`), so the report
package needs no data files. The script also leaves what it drew in `data-*` attributes (points,
markers) so a browser test can check the charts hold the data, not just that a canvas exists.
"""

from __future__ import annotations

BACKTEST_JS = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const LWC = window.LightweightCharts;
  const C = { text: "#d8dee9", muted: "#7b8494", line: "#2e3440", panel: "#151b23", accent: "#88c0d0",
              ok: "#a3be8c", warn: "#ebcb8b", bad: "#bf616a" };
  const $ = (id) => document.getElementById(id);
  function options() {
    return { autoSize: true, layout: { background: { color: C.panel }, textColor: C.text, attributionLogo: true },
             grid: { vertLines: { color: C.line }, horzLines: { color: C.line } },
             timeScale: { timeVisible: true, secondsVisible: false, borderColor: C.line },
             rightPriceScale: { borderColor: C.line } };
  }
  // Fitting the content put the first point on the chart's left edge, where its date label ("Feb") was cut in
  // half: show all `count` points with LABEL_ROOM pixels of empty time before the first. The library sizes a
  // chart after this script (autoSize), which would undo the room, so a chart showing all its points is
  // fitted again at each change of size (not one zoomed on a trade: `focus` forgets the fit).
  const LABEL_ROOM = 32;
  const fitted = new Map(), watched = new Set();
  function refit(chart) {
    const scale = chart.timeScale(), last = Math.max(1, fitted.get(chart) - 1);
    const width = Math.max(2 * LABEL_ROOM, scale.width());
    scale.setVisibleLogicalRange({ from: -LABEL_ROOM * last / (width - LABEL_ROOM), to: last });
  }
  function fit(chart, count) {
    if (!watched.has(chart)) chart.timeScale().subscribeSizeChange(() => { if (fitted.has(chart)) refit(chart); });
    watched.add(chart);
    fitted.set(chart, count);
    refit(chart);
  }
  const points = (rows) => rows.map(([time, value]) => ({ time, value }));
  // A segment takes the colour of its first point: one starting at a trade's exit is hidden (no line between trades).
  const segments = (rows) => rows.map(([time, value, gap]) => (gap ? { time, value, color: "rgba(0,0,0,0)" }
                                                                   : { time, value }));

  // Equity (top pane) and drawdown in % (bottom pane).
  const equity = LWC.createChart($("equity-chart"), options());
  const line = equity.addSeries(LWC.LineSeries, { color: C.accent, lineWidth: 2, title: "equity USDT" });
  line.setData(points(D.equity));
  const drawdown = equity.addSeries(LWC.AreaSeries, { lineColor: C.bad, topColor: "rgba(191,97,106,0.05)",
    bottomColor: "rgba(191,97,106,0.45)", lineWidth: 1, title: "drawdown %", invertFilledArea: true }, 1);
  drawdown.setData(points(D.drawdown));
  fit(equity, D.equity.length);
  $("equity-chart").dataset.points = String(D.equity.length);

  // Trades on price: one symbol at a time.
  const symbols = Object.keys(D.symbols);
  const holder = $("price-chart");
  if (!symbols.length) { holder.textContent = "no trades: nothing to draw"; return; }
  // Fit a whole month of points: the default minimum bar spacing would show only its last days.
  const price = LWC.createChart(holder, { ...options(), timeScale: { ...options().timeScale, minBarSpacing: 0.01 } });
  const close = price.addSeries(LWC.LineSeries, { color: C.text, lineWidth: 1, title: "close" });
  const level = (color, title) => price.addSeries(LWC.LineSeries, { color, lineWidth: 2, lineStyle: 2, title,
    lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false });
  const stops = level(C.bad, "stop");
  const targets = level(C.ok, "take-profit");
  const markers = LWC.createSeriesMarkers(close, []);
  let lines = [];
  function show(symbol) {
    const s = D.symbols[symbol];
    if (s.tick) {  // prices to the symbol's tick (the library's default is 0.01: a 0.02934 stop would read 0.03)
      const precision = s.tick.includes(".") ? s.tick.split(".")[1].length : 0;
      const priceFormat = { type: "price", precision, minMove: Number(s.tick) };
      [close, stops, targets].forEach((series) => series.applyOptions({ priceFormat }));
      holder.dataset.precision = String(precision);
    }
    close.setData(points(s.prices));
    stops.setData(segments(s.stops));
    targets.setData(segments(s.take_profits));
    markers.setMarkers(s.markers);
    lines.forEach((l) => close.removePriceLine(l));
    lines = [];
    fit(price, s.prices.length);
    holder.dataset.symbol = symbol;
    holder.dataset.points = String(s.prices.length);
    holder.dataset.markers = String(markers.markers().length);
    $("symbol").value = symbol;
  }
  function focus(trade) {
    show(trade.symbol);
    fitted.delete(price);
    const pad = Math.max(3600, (trade.exit_time - trade.entry_time) * 0.5);
    price.timeScale().setVisibleRange({ from: trade.entry_time - pad, to: trade.exit_time + pad });
    const add = (value, color, title) => value === null ? null : close.createPriceLine(
      { price: Number(value), color, lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title });
    lines = [add(trade.entry_price, C.accent, "entry " + trade.trade_id), add(trade.stop, C.bad, "stop"),
             add(trade.take_profit, C.ok, "take-profit")].filter((l) => l !== null);
  }
  const select = $("symbol");
  for (const symbol of symbols) {
    const option = document.createElement("option");
    option.value = symbol;
    option.textContent = symbol + " (" + D.symbols[symbol].markers.length / 2 + " trades)";
    select.appendChild(option);
  }
  select.addEventListener("change", () => show(select.value));
  document.querySelectorAll("#trades-table tbody tr").forEach((row, i) => {
    row.classList.add("pick");
    row.addEventListener("click", () => { focus(D.trades[i]); holder.scrollIntoView({ behavior: "smooth" }); });
  });
  show(symbols[0]);
})();
"""
