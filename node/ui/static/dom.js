// Element builders and formatters. Every piece of data enters the page as
// a text node or an attribute value set through the DOM, never as markup.

const SVGNS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", String(v));
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h builds an HTML element: h("td", {class: "num"}, "text", child…).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

// fill replaces the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  build(el, null, children);
}

// table builds a table from column heads and rows of cells; a cell is a
// node, a string or {v, class, title}.
export function table(heads, rows, cls) {
  const head = h("tr", null, heads.map((x) => {
    const c = typeof x === "object" ? x : { v: x };
    return h("th", { class: c.class }, c.v);
  }));
  const body = rows.map((r) => h("tr", null, r.map((x) => {
    if (x instanceof Node || typeof x !== "object" || x === null) return h("td", null, x ?? "");
    return h("td", { class: x.class, title: x.title }, x.v ?? "");
  })));
  return h("div", { class: "scroll" }, h("table", { class: cls }, h("thead", null, head), h("tbody", null, body)));
}

// note is a muted one-line message in a section.
export function note(text, cls) {
  return h("p", { class: "note " + (cls || "") }, text);
}

// kv is a definition list of [label, value] pairs.
export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter((p) => p).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

// Base units: 10^6 per whole unit of every denom.
const UNIT = 1_000_000;

// amount writes base units as a decimal of whole units, with up to six
// digits after the point (trailing zeros dropped, at least two kept).
export function amount(base) {
  const n = Number(base || 0);
  if (!Number.isFinite(n)) return "?";
  const neg = n < 0;
  const a = Math.abs(n);
  const whole = Math.floor(a / UNIT);
  let frac = String(Math.round(a % UNIT)).padStart(6, "0").replace(/0+$/, "");
  if (frac.length < 2) frac = frac.padEnd(2, "0");
  return (neg ? "-" : "") + whole.toLocaleString("en-US") + "." + frac;
}

// usd writes usd base units as dollars.
export function usd(base) {
  return "$" + amount(base);
}

// bytes writes a byte count in binary units.
export function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n || 0);
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + u[i];
}

// duration writes seconds as "3d 4h", "2h 5m", "4m 10s" or "9s".
export function duration(sec) {
  let t = Math.max(0, Math.floor(Number(sec || 0)));
  const d = Math.floor(t / 86400);
  t %= 86400;
  const hr = Math.floor(t / 3600);
  t %= 3600;
  const m = Math.floor(t / 60);
  const sc = t % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${sc}s`;
  return `${sc}s`;
}

// clock writes a time (Date, ms or RFC 3339) as local HH:MM:SS.
export function clock(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

// short abbreviates a long id: its head and tail around an ellipsis.
export function short(id, head = 8, tail = 6) {
  const v = String(id || "");
  return v.length <= head + tail + 1 ? v : v.slice(0, head) + "…" + v.slice(-tail);
}
