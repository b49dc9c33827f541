// Small inline SVG charts: stacked bars over epochs, a sparkline and a
// horizontal gauge. Labels go in as text nodes.

import { s } from "./dom.js";

// scale picks the axis of a chart whose largest value is v: a step of 1, 2
// or 5 times a power of ten (at least 1, amounts being integers) and about
// four steps up to a top at or above v.
function scale(v) {
  if (!(v > 0)) return { step: 1, top: 4 };
  const raw = v / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = 10 * p;
  for (const m of [1, 2, 5]) {
    if (raw <= m * p) {
      step = m * p;
      break;
    }
  }
  step = Math.max(1, Math.round(step));
  return { step, top: step * Math.max(1, Math.ceil(v / step)) };
}

// stackedBars draws one bar per column, stacked by series.
//   columns: [{label, values: [number per series], title}]
//   series:  [{name, class}]
//   format:  writes an axis value
//   opts:    width and height (px), slots (the least number of bar
//            places, so that a few bars keep their width), label
export function stackedBars(columns, series, format, opts = {}) {
  const W = Math.max(240, Math.round(opts.width || 720));
  const H = opts.height || 220;
  const left = 80;
  const right = 8;
  const top = 10;
  const bottom = 24;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const totals = columns.map((c) => c.values.reduce((a, b) => a + Math.max(0, b), 0));
  const { step, top: max } = scale(Math.max(0, ...totals));
  const svg = s("svg", {
    class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": opts.label || "chart",
  });
  for (let v = 0; v <= max; v += step) {
    const y = top + plotH - (plotH * v) / max;
    svg.append(s("line", { class: v ? "grid" : "base", x1: left, x2: W - right, y1: y, y2: y }));
    svg.append(s("text", { class: "axis", x: left - 8, y: y + 4, "text-anchor": "end" }, format(v)));
  }
  const n = Math.max(columns.length, opts.slots || 1);
  const slot = plotW / n;
  const bw = Math.max(3, Math.min(36, slot * 0.6));
  const every = Math.ceil(columns.length / Math.max(1, Math.floor(plotW / 44)));
  columns.forEach((c, i) => {
    const x = left + slot * i + (slot - bw) / 2;
    let y = top + plotH;
    const g = s("g", { class: "bar" });
    c.values.forEach((v, k) => {
      if (!(v > 0)) return;
      const hgt = (plotH * v) / max;
      y -= hgt;
      g.append(s("rect", { class: series[k].class, x, y, width: bw, height: Math.max(hgt, 1) },
        s("title", null, `${c.label}: ${series[k].name} ${format(v)}`)));
    });
    if (totals[i] === 0) {
      g.append(s("rect", { class: "empty", x, y: top + plotH - 2, width: bw, height: 2 },
        s("title", null, `${c.label}: nothing`)));
    }
    svg.append(g);
    if (i % every === 0) {
      svg.append(s("text", { class: "axis", x: x + bw / 2, y: H - 6, "text-anchor": "middle" }, c.label));
    }
  });
  return svg;
}

// legend lists the series with their swatches.
export function legend(series) {
  const W = 110;
  const svg = s("svg", { class: "legend", viewBox: `0 0 ${series.length * W} 18`, width: series.length * W, height: 18, role: "img", "aria-label": "legend" });
  series.forEach((x, i) => {
    svg.append(s("rect", { class: x.class, x: i * W, y: 3, width: 12, height: 12, rx: 2 }));
    svg.append(s("text", { class: "axis", x: i * W + 18, y: 13 }, x.name));
  });
  return svg;
}

// sparkline draws values (0..max) as a line with a filled area.
export function sparkline(values, max, opts = {}) {
  const W = opts.width || 220;
  const H = opts.height || 36;
  const svg = s("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": opts.label || "history" });
  if (values.length < 2) return svg;
  const step = W / (values.length - 1);
  const pts = values.map((v, i) => [i * step, H - 2 - ((H - 4) * Math.min(v, max)) / max]);
  const line = pts.map(([x, y], i) => (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1)).join(" ");
  svg.append(s("path", { class: "area", d: `${line} L${W} ${H} L0 ${H} Z` }));
  svg.append(s("path", { class: "line", d: line }));
  return svg;
}

// gauge draws a horizontal bar filled to frac (0..1).
export function gauge(frac, cls) {
  const f = Math.max(0, Math.min(1, Number(frac) || 0));
  return s("svg", { class: "gauge " + (cls || ""), viewBox: "0 0 100 8", preserveAspectRatio: "none", role: "img", "aria-label": `${Math.round(f * 100)}%` },
    s("rect", { class: "track", x: 0, y: 0, width: 100, height: 8, rx: 4 }),
    s("rect", { class: "value", x: 0, y: 0, width: 100 * f, height: 8, rx: 4 }));
}
