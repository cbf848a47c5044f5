// The per-position price chart, plain SVG: the price line over the last few minutes, horizontal
// lines for entry, stop, take-profit (and liquidation when near), and the trailing stop's level
// as a step line, each labelled with its price at the right edge.

import { num, present, sv } from "./dom.js";

export const CHART_WINDOW_MS = 5 * 60 * 1000; // "the last few minutes" of price
const CHART_MIN_SPAN_MS = 60 * 1000;
const RING_SIZE = 900; // points kept per series (about 15 min of 1/s price events)

// A time series kept client-side: [[time_ms, value]], sorted, bounded.
export function pushRing(map, key, t, v) {
  if (v === null || !Number.isFinite(t)) return;
  let ring = map.get(key);
  if (!ring) map.set(key, (ring = []));
  // Sorted by time: a refresh answer can land between two price events.
  let i = ring.length;
  while (i > 0 && ring[i - 1][0] > t) i -= 1;
  if (i > 0 && ring[i - 1][0] === t) ring[i - 1][1] = v;
  else ring.splice(i, 0, [t, v]);
  const newest = ring[ring.length - 1][0];
  while (ring.length > RING_SIZE || ring[0][0] < newest - 3 * CHART_WINDOW_MS) {
    ring.shift();
  }
}

function levels(p) {
  const out = [];
  const add = (name, cls, v) => {
    const n = num(v);
    if (n !== null) out.push({ name, cls, value: n, text: String(v) });
  };
  add("entry", "entry", p.entry_price);
  for (const x of Array.isArray(p.exits) ? p.exits : []) {
    if (!x) continue;
    if (x.role === "stop_loss") add("stop", "stop", x.trigger_price);
    else if (x.role === "take_profit") add("tp", "tp", x.trigger_price ?? x.price);
    else if (x.role === "oco") {
      add("oco stop", "stop", x.trigger_price);
      add("oco limit", "tp", x.price);
    }
  }
  add("liq", "liq", p.liquidation_price);
  return out;
}

// p: a position; series, trail: [[time_ms, value]] of its price and of its trailing stop's
// level; t1: now on the server's clock.
export function chart(p, width, series0, trail0, t1) {
  const W = Math.max(240, Math.floor(width));
  const H = 150;
  const PAD = 8;
  const series = (series0 || []).filter(([t]) => t >= t1 - CHART_WINDOW_MS);
  const trail = (trail0 || []).filter(([t]) => t >= t1 - CHART_WINDOW_MS);
  const trailX = (Array.isArray(p.exits) ? p.exits : []).find((x) => x && x.role === "trailing");
  const lv = levels(p);
  const trailText = trailX && trailX.trailing && present(trailX.trailing.current_stop)
    ? String(trailX.trailing.current_stop) : trail.length ? String(trail[trail.length - 1][1]) : "";
  // The right-edge gutter fits the longest label: 10 px monospace is about 6.1 px a character.
  const longest = Math.max(8, ...lv.map((l) => l.name.length + 1 + l.text.length),
    trailText ? 6 + trailText.length : 0, String(p.mark_price ?? p.last_price ?? "").length);
  const plotW = W - PAD - Math.min(Math.ceil(longest * 6.1) + 8, Math.floor(W / 2));
  const svg = sv("svg", { class: "chart-svg", width: W, height: H, viewBox: `0 0 ${W} ${H}`,
                          role: "img", "aria-label": `${p.symbol} price chart` });
  const first = Math.min(...[series, trail].filter((r) => r.length).map((r) => r[0][0]), t1);
  const t0 = t1 - Math.min(CHART_WINDOW_MS, Math.max(CHART_MIN_SPAN_MS, t1 - first));
  const values = [...series.map((x) => x[1]), ...trail.map((x) => x[1]),
    ...lv.filter((l) => l.cls !== "liq").map((l) => l.value)];
  if (!values.length) {
    svg.setAttribute("height", "24");
    svg.setAttribute("viewBox", `0 0 ${W} 24`);
    svg.append(sv("text", { x: PAD, y: 16, class: "empty" }, "no price yet"));
    return svg;
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const liq = lv.find((l) => l.cls === "liq");
  // The liquidation price is drawn only when it is near: far away it would flatten the chart.
  if (liq && liq.value >= lo - (hi - lo) * 0.5 && liq.value <= hi + (hi - lo) * 0.5) {
    lo = Math.min(lo, liq.value);
    hi = Math.max(hi, liq.value);
  }
  const span = hi - lo || Math.abs(hi) * 0.01 || 1;
  lo -= span * 0.08;
  hi += span * 0.08;
  const x = (t) => PAD + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v) => PAD + (1 - (v - lo) / (hi - lo)) * (H - 2 * PAD - 12);
  const plotBottom = H - PAD - 12;
  svg.append(sv("rect", { x: PAD, y: PAD, width: plotW, height: plotBottom - PAD, class: "plot" }));
  svg.append(sv("text", { x: PAD, y: H - 4, class: "axis" }, `−${Math.round((t1 - t0) / 60000)} min`));
  svg.append(sv("text", { x: PAD + plotW, y: H - 4, class: "axis", "text-anchor": "end" }, "now"));
  const labels = [];
  for (const l of lv) {
    if (l.value < lo || l.value > hi) continue;
    const yy = y(l.value);
    svg.append(sv("line", { x1: PAD, x2: PAD + plotW, y1: yy, y2: yy, class: `lvl ${l.cls}`,
                            "data-line": l.name, "data-level": l.text }));
    labels.push({ y: yy, cls: l.cls, text: `${l.name} ${l.text}`, name: l.name });
  }
  if (trail.length) {
    const last = trail[trail.length - 1];
    let d = `M${x(trail[0][0]).toFixed(1)},${y(trail[0][1]).toFixed(1)}`;
    for (let i = 1; i < trail.length; i += 1) {
      d += ` H${x(trail[i][0]).toFixed(1)} V${y(trail[i][1]).toFixed(1)}`;
    }
    d += ` H${x(t1).toFixed(1)}`;
    // Where the stop stands now, across the plot; the solid steps are where it stood before.
    const yy = y(last[1]);
    svg.append(sv("line", { x1: PAD, x2: PAD + plotW, y1: yy, y2: yy, class: "lvl trailing-now" }));
    svg.append(sv("path", { d, class: "lvl trailing", "data-line": "trailing",
                            "data-level": trailText }));
    labels.push({ y: yy, cls: "trailing", text: `trail ${trailText}`, name: "trailing" });
  }
  if (series.length) {
    const pts = series.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    if (series.length === 1) pts.push(`${x(t1).toFixed(1)},${y(series[0][1]).toFixed(1)}`);
    svg.append(sv("polyline", { points: pts.join(" "), class: "price", "data-line": "price" }));
    const lastV = series[series.length - 1];
    svg.append(sv("circle", { cx: x(lastV[0]), cy: y(lastV[1]), r: 2.5, class: "price-dot" }));
    const shown = p.product === "spot" ? p.last_price ?? p.mark_price : p.mark_price ?? p.last_price;
    labels.push({ y: y(lastV[1]), cls: "price", text: present(shown) ? String(shown) : String(lastV[1]),
                  name: "price" });
  }
  // Labels at the right edge, nudged apart so none overlaps another.
  labels.sort((a, b) => a.y - b.y);
  const GAP = 11;
  for (let i = 1; i < labels.length; i += 1) {
    labels[i].y = Math.max(labels[i].y, labels[i - 1].y + GAP);
  }
  const overflow = labels.length ? labels[labels.length - 1].y - (H - 4) : 0;
  if (overflow > 0) for (const l of labels) l.y -= overflow;
  for (const l of labels) {
    svg.append(sv("text", { x: PAD + plotW + 4, y: l.y + 3.5, class: `lbl ${l.cls}`,
                            "data-label": l.name }, l.text));
  }
  return svg;
}
