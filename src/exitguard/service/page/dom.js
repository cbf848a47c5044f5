// Small shared helpers: DOM building without markup (textContent and setAttribute only, so no
// text from the API can become markup), value formatting, and position/slot names.

const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(k);
  return el;
}

export function sv(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  if (text !== undefined) el.textContent = text;
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
}

export const present = (v) => v !== null && v !== undefined && v !== "";
export const fmt = (v) => (present(v) ? String(v) : "—");
export const num = (v) => {
  if (!present(v)) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};
export const sign = (v) => {
  const n = num(v);
  return n === null || n === 0 ? "zero" : n > 0 ? "pos" : "neg";
};
const pad2 = (n) => String(n).padStart(2, "0");
export function clock(ms) {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad2(Math.floor((s % 3600) / 60))} min`;
}
export const secs = (v) => (num(v) === null ? "?" : `${num(v).toFixed(1)} s`);

// "default/usdm/BTCUSDT/BOTH" -> "usdm/BTCUSDT/BOTH" (the id /positions uses); slots add a role.
export function parseRef(ref) {
  const p = String(ref || "").split("/");
  if (p.length >= 4) {
    return { account: p[0], product: p[1], symbol: p[2], side: p[3], role: p[4] || null,
             id: `${p[1]}/${p[2]}/${p[3]}` };
  }
  return { account: null, product: null, symbol: String(ref || "?"), side: null, role: null,
           id: String(ref || "") };
}
export function refName(r) {
  let s = r.symbol;
  if (r.side && r.side !== "BOTH") s += ` ${r.side}`;
  if (r.product === "spot") s = `spot ${s}`;
  return s;
}
export function posName(p) {
  let s = p.symbol || "?";
  if (p.position_side && p.position_side !== "BOTH") s += ` ${p.position_side}`;
  return s;
}
