// exitguard live status page: state, API, stream and rendering (ES modules app.js, chart.js,
// dom.js, lines.js). Hand-written, no build step, no third-party code: it must work on a machine
// with no internet. Every datum comes from the token-guarded API (the service contract); all text
// goes in through textContent / setAttribute, never innerHTML, so nothing the API returns can
// become markup.
import { chart, pushRing } from "./chart.js";
import { ago, clock, fmt, h, num, parseRef, posName, present, refName, sign } from "./dom.js";
import { describe } from "./lines.js";

const $ = (id) => document.getElementById(id);

const TOKEN_KEY = "exitguard.token";
const MAX_EVENTS = 50;
const POLL_MS = 5000; // safety net when the stream is quiet or down
const REFRESH_GAP_MS = 250; // at most ~4 refreshes a second on event bursts
const PRICE_REFRESH_GAP_MS = 1000; // price ticks move the trailing stop: refresh, but gently
const CLOSED_CARD_MS = 30 * 1000; // a closed position's card stays greyed this long
const CLOSED_KEEP = 10;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

// Kinds that change positions, exits or health: each one re-fetches /positions and /health.
const REFRESH_KINDS = new Set([
  "placed", "exit_status", "exit_fill", "cancelled", "rejected", "exit_rejected", "fallback",
  "hold", "positions", "position_bare", "position_still_bare", "position_protected",
  "position_gone", "scope_degraded", "scope_ok", "recovered", "manager_started",
  "manager_stopped", "paused", "resumed", "override_set", "close_requested",
]);

const S = {
  token: null,
  refused: false,
  health: null,
  skewMs: 0, // server clock minus ours, from health.time_ms
  mode: null,
  venue: null,
  positions: new Map(), // id -> position (as /positions returns it)
  closing: new Map(), // id -> {pos, closedAt}: shown greyed as CLOSED for a while
  closed: [], // [{pos, closedAt}], newest first
  events: [], // newest first
  prices: new Map(), // "product/SYMBOL" -> [[time_ms, number]]
  trails: new Map(), // position id -> [[time_ms, number]] trailing stop's current level
  fills: new Map(), // position id -> last exit fill line, shown on the card once it closes
  ws: null,
  backoff: BACKOFF_MIN_MS,
  streamTimer: null,
  pollTimer: null,
};

const now = () => Date.now() + S.skewMs;

// ---- API -----------------------------------------------------------------------------------

class Refused extends Error {}

async function api(path) {
  const r = await fetch(new URL(path, document.baseURI), {
    headers: { Authorization: `Bearer ${S.token}` },
    cache: "no-store",
  });
  if (r.status === 401 || r.status === 403) throw new Refused(`HTTP ${r.status}`);
  if (!r.ok) throw new Error(`${path.split("?")[0]}: HTTP ${r.status}`);
  return r.json();
}

function failed(err) {
  if (err instanceof Refused) return refuse();
  setFoot(`cannot reach the service: ${err && err.message ? err.message : err}`);
}

let refreshTimer = null;
let refreshDue = 0;
let lastRefresh = 0;
let refreshBusy = false;
let refreshAgain = false;

function scheduleRefresh(gap) {
  const due = Math.max(Date.now(), lastRefresh + gap);
  if (refreshTimer !== null && refreshDue <= due) return;
  clearTimeout(refreshTimer);
  refreshDue = due;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh();
  }, due - Date.now());
}

async function refresh() {
  if (!S.token || S.refused) return;
  if (refreshBusy) {
    refreshAgain = true;
    return;
  }
  refreshBusy = true;
  lastRefresh = Date.now();
  try {
    const [health, positions] = await Promise.all([
      api("api/v1/health"), api("api/v1/positions"),
    ]);
    applyHealth(health);
    applyPositions(positions);
    setFoot("");
  } catch (err) {
    failed(err);
  } finally {
    refreshBusy = false;
    if (refreshAgain) {
      refreshAgain = false;
      scheduleRefresh(REFRESH_GAP_MS);
    }
  }
}

async function loadEvents() {
  try {
    const body = await api(`api/v1/events?limit=${MAX_EVENTS}`);
    const list = Array.isArray(body && body.events) ? body.events : [];
    // The server is the source of truth (its seq restarts with it): keep only live events
    // that arrived after this answer was made.
    const newest = list.reduce((m, e) => Math.max(m, Number(e.seq) || 0), 0);
    const live = S.events.filter((e) => (Number(e.seq) || 0) > newest);
    S.events = [];
    for (const e of list) addEvent(e, false);
    for (const e of live) addEvent(e, false);
    renderEvents();
  } catch (err) {
    failed(err);
  }
}

// ---- state updates -------------------------------------------------------------------------

function applyHealth(health) {
  if (!health || typeof health !== "object") return;
  S.health = health;
  const t = num(health.time_ms);
  if (t !== null) S.skewMs = t - Date.now();
  if (present(health.mode)) S.mode = String(health.mode);
  if (present(health.venue)) S.venue = String(health.venue);
  renderHeader();
  renderBanner();
}

function applyPositions(body) {
  const list = Array.isArray(body && body.positions) ? body.positions : [];
  const t = num(body && body.time_ms) ?? now();
  const seen = new Set();
  for (const p of list) {
    if (!p || !present(p.id)) continue;
    const id = String(p.id);
    // "usdm/BTCUSDT/BOTH": the id names the product, symbol and side when the fields are absent.
    const [product, symbol, positionSide] = id.split("/");
    if (!present(p.product)) p.product = product;
    if (!present(p.symbol)) p.symbol = symbol;
    if (!present(p.position_side)) p.position_side = positionSide;
    seen.add(id);
    if (!S.positions.has(id)) {
      // Reopened: the fill that closed its earlier life is not this one's.
      const reopened = S.closing.delete(id) || S.closed.some((c) => String(c.pos.id) === id);
      if (reopened) S.fills.delete(id);
    }
    S.positions.set(id, p);
    pushRing(S.prices, `${p.product}/${p.symbol}`, t, num(p.mark_price) ?? num(p.last_price));
    const trail = (p.exits || []).find((x) => x && x.role === "trailing" && x.trailing);
    if (trail) pushRing(S.trails, String(p.id), t, num(trail.trailing.current_stop));
  }
  for (const [id, p] of S.positions) {
    if (!seen.has(id)) {
      S.positions.delete(id);
      S.closing.set(id, { pos: p, closedAt: now() });
    }
  }
  renderPositions();
}

function onPrice(ev) {
  const d = ev.data || {};
  const t = num(ev.time_ms) ?? now();
  // USD-M exits trigger on the mark price by default; Spot has only the last trade price.
  const price = num(d.mark) ?? num(d.last);
  pushRing(S.prices, `${d.product}/${d.symbol}`, t, price);
  let mine = false;
  for (const p of S.positions.values()) {
    if (p.symbol === d.symbol && p.product === d.product) {
      mine = true;
      if (present(d.mark)) p.mark_price = d.mark;
      if (present(d.last)) p.last_price = d.last;
    }
  }
  if (mine) {
    renderPositions(); // mark and chart now; PnL and the trailing level from the refresh
    // The trailing stop's level and the PnL are the server's to compute: ask for them.
    scheduleRefresh(PRICE_REFRESH_GAP_MS);
  }
}

function onEvent(ev) {
  if (!ev || typeof ev !== "object") return;
  const d = ev.data || {};
  if (ev.kind === "hello") {
    if (d.health) applyHealth(d.health);
    return;
  }
  if (ev.kind === "price") return onPrice(ev);
  if (ev.kind === "manager_started") {
    if (present(d.mode)) S.mode = String(d.mode);
    if (present(d.venue)) S.venue = String(d.venue);
    renderHeader();
  }
  if (!REFRESH_KINDS.has(ev.kind)) return; // unknown kinds: ignored by contract
  noteExit(ev);
  addEvent(ev, true);
  renderEvents();
  scheduleRefresh(REFRESH_GAP_MS);
}

// An exit's new state reaches the card at once, and stays on it when the position closes before
// the next refresh (the fill that closed it is the last thing the trader needs to see there).
function noteExit(ev) {
  const d = ev.data || {};
  if (ev.kind !== "exit_status" && ev.kind !== "exit_fill") return;
  const slot = parseRef(d.slot);
  if (ev.kind === "exit_fill") {
    S.fills.set(slot.id, `${slot.role || "exit"} filled ${fmt(d.qty)} @ ${fmt(d.price)}`);
  }
  const state = ev.kind === "exit_status" ? d.status : null;
  if (!present(state)) return;
  const pos = S.positions.get(slot.id) || (S.closing.get(slot.id) || {}).pos;
  for (const x of (pos && Array.isArray(pos.exits) ? pos.exits : [])) {
    if (x && (x.client_id === d.client_id || (!present(d.client_id) && x.role === slot.role))) {
      x.state = String(state);
    }
  }
}

function addEvent(ev, live) {
  if (!ev || !REFRESH_KINDS.has(ev.kind)) return;
  if (live && S.events.some((e) => e.seq === ev.seq && e.kind === ev.kind)) return;
  S.events.push(ev);
  S.events.sort((a, b) => (Number(b.time_ms) || 0) - (Number(a.time_ms) || 0)
    || (Number(b.seq) || 0) - (Number(a.seq) || 0));
  if (S.events.length > MAX_EVENTS) S.events.length = MAX_EVENTS;
  if (ev.kind === "manager_started" && !live && S.venue === null && present(ev.data?.venue)) {
    S.venue = String(ev.data.venue);
    renderHeader();
  }
}

// ---- rendering -----------------------------------------------------------------------------

function setFoot(text) {
  $("foot-msg").textContent = text;
}

function setConn(state) {
  const el = $("conn");
  el.dataset.conn = state;
  el.textContent = state;
}

function renderHeader() {
  const mode = $("mode");
  mode.textContent = S.mode || "—";
  mode.dataset.mode = S.mode || "";
  $("venue").textContent = `venue ${S.venue || "—"}`;
  const st = $("status");
  const h0 = S.health;
  const status = h0 && present(h0.status) ? String(h0.status).toLowerCase() : "unknown";
  st.dataset.status = status;
  let text = status === "unknown" ? "…" : status.toUpperCase();
  if (h0 && h0.ready === false) text += " · not ready";
  st.textContent = text;
  // The tab says it too: the page often sits in a background tab or on a second screen.
  document.title = status === "unknown" ? "exitguard" : `${status.toUpperCase()} · exitguard`;
}

function bannerItems() {
  const items = [];
  const h0 = S.health;
  if (!h0) return items;
  const t = now();
  for (const p of Array.isArray(h0.positions) ? h0.positions : []) {
    if (!p || p.state === "protected" || !present(p.state)) continue;
    const r = parseRef(p.position);
    const since = num(p.since_ms);
    const dur = since ? ` for ${ago(t - since)}` : "";
    items.push({
      key: r.id, state: String(p.state),
      text: `${refName(r)} (${r.product || "?"}) ${String(p.state).toUpperCase()}${dur}`,
      reason: p.reason,
    });
  }
  for (const [name, sc] of Object.entries(h0.scopes || {})) {
    if (!sc || !sc.degraded) continue;
    items.push({ key: `scope:${name}`, state: "degraded", text: `${name} scope DEGRADED`,
                 reason: sc.reason });
  }
  if (!items.length && present(h0.status) && h0.status !== "ok") {
    for (const r of Array.isArray(h0.reasons) ? h0.reasons : []) {
      items.push({ key: `reason:${r}`, state: String(h0.status), text: String(r), reason: "" });
    }
  }
  return items;
}

function renderBanner() {
  const items = bannerItems();
  const banner = $("banner");
  banner.hidden = items.length === 0;
  banner.dataset.state = items.some((i) => i.state === "bare") ? "bare" : "degraded";
  $("banner-list").replaceChildren(...items.map((i) => h("li",
    { "data-position": i.key, "data-state": i.state },
    h("strong", { text: i.text }),
    present(i.reason) ? h("span", { class: "reason", text: ` — ${i.reason}` }) : null)));
}

function renderEvents() {
  $("events").replaceChildren(...S.events.map((ev) => {
    const [text, level] = describe(ev);
    const t = num(ev.time_ms);
    return h("li", { "data-kind": ev.kind, "data-level": level, "data-seq": ev.seq },
      h("time", { text: t ? clock(t) : "--:--:--" }), h("span", { class: "msg", text }));
  }));
}

function protection(p) {
  if (p.protection && present(p.protection.state)) return p.protection;
  const hp = (S.health && Array.isArray(S.health.positions) ? S.health.positions : [])
    .find((x) => x && parseRef(x.position).id === p.id);
  return hp || { state: "unknown", reason: "" };
}

function stat(label, value, cls) {
  return h("div", { class: `stat ${cls || ""}` }, h("dt", { text: label }),
    h("dd", { text: value }));
}

const ROLE_NAMES = { stop_loss: "stop loss", take_profit: "take profit", trailing: "trailing",
                     oco: "OCO" };

function exitRow(x) {
  let level = fmt(x.trigger_price);
  if (x.role === "trailing" && x.trailing) {
    level = `${fmt(x.trailing.current_stop)} · cb ${fmt(x.trailing.callback_rate)}%`;
    if (present(x.trailing.activation_price)) level += ` · act ${x.trailing.activation_price}`;
  } else if (present(x.price)) {
    level = present(x.trigger_price) ? `${x.trigger_price} / lim ${x.price}` : String(x.price);
  }
  const qty = present(x.quantity) ? String(x.quantity) : x.close_position ? "all" : "—";
  const dist = present(x.distance_pct) ? `${x.distance_pct}%` : "—";
  const near = num(x.distance_pct) !== null && Math.abs(num(x.distance_pct)) < 0.5;
  return h("tr", { class: "exit", "data-role": x.role, "data-state": x.state },
    h("td", { class: "role" }, h("span", { text: ROLE_NAMES[x.role] || fmt(x.role) }),
      // A break opportunity after each "_": TAKE_PROFIT_MARKET wraps at words on a phone.
      h("small", { text: fmt(x.type).replaceAll("_", "_\u200b") })),
    h("td", { class: "num", text: level }),
    h("td", { class: "num nowrap", text: qty }),
    h("td", null, h("span", { class: "xstate", "data-state": x.state, text: fmt(x.state) })),
    h("td", { class: `num nowrap ${near ? "near" : ""}`, text: dist }));
}

function card(p, closedAt) {
  const prot = closedAt ? { state: "closed" } : protection(p);
  const state = String(prot.state || "unknown");
  const side = present(p.side) ? String(p.side) : (num(p.size) ?? 0) < 0 ? "SHORT" : "LONG";
  const exits = Array.isArray(p.exits) ? p.exits : [];
  const head = h("div", { class: "card-head" },
    h("span", { class: "sym", text: posName(p) }),
    h("span", { class: "side", "data-side": side, text: side }),
    h("span", { class: "prod", text: p.product === "usdm" ? "USD-M" : fmt(p.product).toUpperCase() }),
    h("span", { class: "state", "data-state": state, text: state.toUpperCase() }),
    p.override ? h("span", { class: "override", title: "a bot's protection plan applies",
                             text: "bot plan" }) : null);
  const stats = h("dl", { class: "stats" },
    stat("size", fmt(p.size)),
    stat("entry", fmt(p.entry_price)),
    p.product === "spot" ? stat("last", fmt(p.last_price ?? p.mark_price))
      : stat("mark", fmt(p.mark_price ?? p.last_price)),
    stat("uPnL", fmt(p.unrealized_pnl), `pnl ${sign(p.unrealized_pnl)}`),
    p.product !== "spot" ? stat("liq.", fmt(p.liquidation_price)) : null,
    p.product !== "spot" ? stat("stop→liq", present(p.stop_to_liquidation_pct)
      ? `${p.stop_to_liquidation_pct}%` : "—") : null);
  const fill = S.fills.get(String(p.id));
  const note = closedAt
    ? h("p", { class: "note closed-note",
               text: `closed at ${clock(closedAt)} UTC${fill ? ` · ${fill}` : ""}` })
    : state !== "protected" && present(prot.reason)
      ? h("p", { class: "note warn", text: String(prot.reason) }) : null;
  const table = exits.length
    ? h("table", { class: "exits" },
        h("thead", null, h("tr", null, ...["exit", "trigger / limit", "qty", "state", "dist."]
          .map((c) => h("th", { text: c })))),
        h("tbody", null, ...exits.filter(Boolean).map(exitRow)))
    : h("p", { class: "note warn", text: "no exits" });
  return [head, stats, note, table, h("div", { class: "chart" })];
}

function renderPositions() {
  const root = $("positions");
  const cards = new Map([...root.children].map((el) => [el.dataset.id, el]));
  const order = [...S.positions.values()].sort((a, b) =>
    String(a.symbol).localeCompare(String(b.symbol)) || String(a.id).localeCompare(String(b.id)));
  const rows = order.map((p) => [String(p.id), p, null]);
  for (const [id, c] of S.closing) rows.push([id, c.pos, c.closedAt]);
  const keep = [];
  for (const [id, p, closedAt] of rows) {
    let el = cards.get(id);
    if (!el) el = h("article", { class: "position", "data-id": id });
    el.classList.toggle("closed", !!closedAt);
    el.dataset.state = closedAt ? "closed" : String(protection(p).state || "unknown");
    el.replaceChildren(...card(p, closedAt).filter(Boolean));
    keep.push(el);
  }
  root.replaceChildren(...keep);
  $("pos-count").textContent = S.positions.size ? `(${S.positions.size})` : "";
  $("no-positions").hidden = keep.length > 0 || !S.health;
  const closedWrap = $("closed-wrap");
  closedWrap.hidden = S.closed.length === 0;
  $("closed").replaceChildren(...S.closed.map(({ pos, closedAt }) => h("li", null,
    h("time", { text: clock(closedAt) }),
    h("span", { text: ` ${posName(pos)} ${fmt(pos.side)} ${fmt(pos.size)} @ ${fmt(pos.entry_price)}` }))));
  renderCharts();
}

function renderCharts() {
  for (const el of $("positions").children) {
    const id = el.dataset.id;
    const p = S.positions.get(id) || (S.closing.get(id) || {}).pos;
    const box = el.querySelector(".chart");
    if (!p || !box) continue;
    const prices = S.prices.get(`${p.product}/${p.symbol}`);
    box.replaceChildren(chart(p, box.clientWidth || 320, prices, S.trails.get(id), now()));
  }
}

// ---- token, stream and timers --------------------------------------------------------------

function storeToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch (_) {
    // Private mode or storage disabled: the token lives only in memory.
  }
}

function readToken() {
  const frag = new URLSearchParams(location.hash.replace(/^#/, ""));
  const t = frag.get("token");
  if (t) {
    storeToken(t);
    // Out of the address bar, the history and any bookmark or screenshot of the URL.
    history.replaceState(null, "", location.pathname + location.search);
    return t;
  }
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch (_) {
    return null;
  }
}

function showLogin(message, refused) {
  $("login").hidden = false;
  const msg = $("login-msg");
  msg.textContent = message;
  msg.classList.toggle("error", !!refused);
  $("token-input").value = "";
  $("token-input").focus();
}

function refuse() {
  if (S.refused) return;
  S.refused = true;
  S.token = null;
  storeToken(null);
  clearInterval(S.pollTimer);
  clearTimeout(S.streamTimer);
  S.streamTimer = null;
  if (S.ws) {
    const ws = S.ws;
    S.ws = null;
    ws.close();
  }
  setConn("token refused");
  showLogin("token refused — enter a valid API token", true);
}

function openStream() {
  S.streamTimer = null;
  if (S.refused || !S.token || S.ws) return;
  const url = new URL("api/v1/stream", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    // Browsers cannot set headers on a WebSocket: the token rides in the subprotocol.
    ws = new WebSocket(url, [`exitguard.bearer.${S.token}`]);
  } catch (err) {
    setFoot(`stream: ${err.message}`);
    return retryStream();
  }
  S.ws = ws;
  ws.onopen = () => {
    if (S.ws !== ws) return;
    S.backoff = BACKOFF_MIN_MS;
    setConn("live");
    loadEvents();
    scheduleRefresh(0);
  };
  ws.onmessage = (m) => {
    if (S.ws !== ws) return;
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch (_) {
      return;
    }
    onEvent(ev);
  };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.ws = null;
    if (S.refused) return;
    setConn("reconnecting");
    // A refused handshake looks like any other close to a browser: the REST call tells.
    scheduleRefresh(0);
    retryStream();
  };
}

function retryStream() {
  if (S.refused || S.streamTimer !== null) return;
  const delay = S.backoff * (0.75 + Math.random() * 0.5);
  S.backoff = Math.min(S.backoff * 2, BACKOFF_MAX_MS);
  S.streamTimer = setTimeout(openStream, delay);
}

function start(token) {
  S.token = token;
  S.refused = false;
  S.backoff = BACKOFF_MIN_MS;
  $("login").hidden = true;
  setConn("connecting");
  clearInterval(S.pollTimer);
  S.pollTimer = setInterval(() => scheduleRefresh(0), POLL_MS);
  refresh();
  loadEvents();
  openStream();
}

function tick() {
  $("clock").textContent = `${clock(now())} UTC`;
  if (!$("banner").hidden) renderBanner();
  const t = now();
  let moved = false;
  for (const [id, c] of S.closing) {
    if (t - c.closedAt >= CLOSED_CARD_MS) {
      S.closing.delete(id);
      S.closed.unshift(c);
      moved = true;
    }
  }
  if (S.closed.length > CLOSED_KEEP) S.closed.length = CLOSED_KEEP;
  if (moved) renderPositions();
  else renderCharts(); // the time axis moves on
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderCharts, 150);
});

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token-input").value.trim();
  if (!t) return;
  storeToken(t);
  start(t);
});

renderHeader();
tick();
setInterval(tick, 1000);
const token = readToken();
if (token) start(token);
else {
  setConn("no token");
  showLogin("Enter the API token (it stays in this browser).", false);
}
