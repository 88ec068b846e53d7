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
