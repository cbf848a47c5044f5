// One readable line per stream event (the kinds of the service contract) and its level.

import { fmt, parseRef, present, refName, secs } from "./dom.js";


// One readable line per event and its level (colour): [text, level].
export function describe(ev) {
  const d = ev.data || {};
  const slot = parseRef(d.slot);
  const pos = parseRef(d.position);
  const at = (x) => x.trigger_price ?? x.price;
  switch (ev.kind) {
    case "placed": {
      const p = at(d);
      let s = `${refName(slot)} ${slot.role || d.type || "exit"} placed`;
      if (present(p)) s += ` at ${p}`;
      if (present(d.quantity)) s += ` qty ${d.quantity}`;
      return [s, "ok"];
    }
    case "exit_status": {
      const st = String(d.status || "?");
      const lvl = st === "FILLED" || st === "TRIGGERED" ? "fill"
        : st === "REJECTED" || st === "EXPIRED" || st === "UNKNOWN" ? "warn" : "info";
      return [`${refName(slot)} ${slot.role || "exit"} ${st}`, lvl];
    }
    case "exit_fill":
      return [`${refName(slot)} ${slot.role || "exit"} FILLED ${fmt(d.qty)} @ ${fmt(d.price)}`,
        "fill"];
    case "cancelled":
      return [`${refName(slot)} ${slot.role || "exit"} cancelled${present(d.reason) ? `: ${d.reason}` : ""}`,
        "info"];
    case "rejected":
    case "exit_rejected": {
      const code = present(d.code) ? ` (${d.code})` : "";
      const why = d.error ?? d.reason;
      return [`${refName(slot)} ${slot.role || "exit"} REJECTED${code}${present(why) ? `: ${why}` : ""}`,
        "error"];
    }
    case "fallback":
      return [`${refName(slot)} ${slot.role || "exit"} fallback ${fmt(d.action)}${present(d.code) ? ` (${d.code})` : ""}`,
        "error"];
    case "hold":
      return [`${refName(slot)} ${slot.role || "exit"} held: ${fmt(d.reason)}`, "warn"];
    case "positions": {
      const entries = Object.entries(d.positions || {});
      const prod = present(d.product) ? `${d.product} ` : "";
      if (!entries.length) return [`${prod}positions: none open`, "info"];
      return [`${prod}positions: ${entries.map(([k, v]) => `${k} ${v}`).join(", ")}`, "info"];
    }
    case "position_bare":
      return [`${refName(pos)} ${String(d.state || "bare").toUpperCase()}: ${fmt(d.reason)}`,
        d.state === "degraded" ? "warn" : "error"];
    case "position_still_bare":
      return [`${refName(pos)} ${String(d.state || "bare").toUpperCase()} ${secs(d.bare_s)}: ${fmt(d.reason)}`,
        d.state === "degraded" ? "warn" : "error"];
    case "position_protected":
      return [`${refName(pos)} protected again after ${secs(d.bare_s)}`, "ok"];
    case "position_gone":
      return [`${refName(pos)} position gone${present(d.was) ? ` (was ${d.was})` : ""}`, "info"];
    case "scope_degraded":
      return [`${fmt(d.scope)} DEGRADED: ${fmt(d.reason)}`, "warn"];
    case "scope_ok":
      return [`${fmt(d.scope)} ok again after ${secs(d.degraded_s)}`, "ok"];
    case "recovered":
      return [`recovered: ${fmt(d.reason)}${present(d.replayed) ? ` (${d.replayed} replayed)` : ""}`,
        "info"];
    case "manager_started": {
      const prods = Array.isArray(d.products) ? d.products.join("+") : fmt(d.products);
      return [`manager started: ${fmt(d.mode)}, ${prods}, venue ${fmt(d.venue)}`, "info"];
    }
    case "manager_stopped":
      return [`manager stopped: ${fmt(d.reason)}`, "warn"];
    case "paused":
      return [`${fmt(d.product)} paused`, "warn"];
    case "resumed":
      return [`${fmt(d.product)} resumed`, "ok"];
    case "override_set":
      return [`${present(d.position) ? refName(pos) : fmt(d.symbol)} bot plan set (${fmt(d.kind)})`,
        "info"];
    case "close_requested":
      return [`${refName(pos)} close requested`, "warn"];
    default:
      return [String(ev.kind), "info"];
  }
}
