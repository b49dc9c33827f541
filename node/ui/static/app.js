// The node dashboard: reads the node's JSON endpoints and redraws each
// section every few seconds.

import { h, fill, table, note, kv, amount, usd, bytes, duration, clock, short } from "./dom.js";
import { stackedBars, legend, sparkline, gauge } from "./chart.js";

const REFRESH_MS = 3000;
const EPOCHS = 12; // epochs in the settlement table and charts
const REQUESTS = 15; // rows of recent requests
const MAX_BACK = 16; // epochs searched back for them
const HISTORY = 60; // GPU samples kept for the sparklines

const gpuHistory = new Map(); // uuid → utilisation percentages

// get fetches a JSON endpoint: {ok, status, data, error}.
async function get(path) {
  try {
    const r = await fetch(path, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(8000) });
    let data = null;
    try {
      data = await r.json();
    } catch {
      data = null;
    }
    if (!r.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : r.statusText;
      return { ok: false, status: r.status, data: null, error: `HTTP ${r.status}: ${msg}` };
    }
    if (data === null || typeof data !== "object") {
      return { ok: false, status: r.status, data: null, error: "the answer is not a JSON object or list" };
    }
    return { ok: true, status: r.status, data, error: "" };
  } catch (e) {
    return { ok: false, status: 0, data: null, error: e && e.name === "TimeoutError" ? "timed out" : "node unreachable" };
  }
}

function body(id) {
  return document.querySelector(`#${id} > .body`);
}

// section redraws one section; a failure to draw shows in the section
// and never stops the others.
function section(id, draw) {
  const el = body(id);
  try {
    const out = draw();
    fill(el, out);
  } catch (e) {
    fill(el, note("could not draw this section: " + (e && e.message ? e.message : String(e)), "bad"));
  }
}

// width is the inner width of a section, for a chart drawn at 1:1.
function width(id) {
  return body(id).clientWidth || 720;
}

function unavailable(res) {
  return note("unavailable (" + res.error + ")", "bad");
}

function noChain() {
  return note("no chain: this node runs without the settlement chain", "muted nochain");
}

function mono(v, cls) {
  return h("span", { class: "mono " + (cls || "") }, v);
}

function pill(text, kind) {
  return h("span", { class: "pill " + kind }, text);
}

function list(items) {
  if (!items || items.length === 0) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "addrs" }, items.map((a) => h("li", null, mono(a))));
}

// --- header and node identity ---

function drawHeader(st) {
  const who = document.getElementById("who");
  const live = document.getElementById("live");
  if (st.ok) {
    const d = st.data;
    fill(who, d.network_id ? [h("span", { class: "label" }, "network"), h("span", { class: "net" }, d.network_id)] : null,
      h("span", { class: "label" }, "peer"), mono(short(d.peer_id, 12, 6), "peer"),
      d.version ? [h("span", { class: "label" }, "version"), h("span", null, d.version)] : null);
    live.setAttribute("class", "live ok");
    fill(live, h("span", { class: "dot" }), h("span", { class: "live-text" }, "live · " + clock(new Date())));
  } else {
    live.setAttribute("class", "live bad");
    fill(live, h("span", { class: "dot" }), h("span", { class: "live-text" }, st.error));
  }
}

function drawNode(st, chain) {
  if (!st.ok) return unavailable(st);
  const d = st.data;
  const p2p = d.p2p || {};
  const reach = p2p.reachability || "unknown";
  const chainLine = chain.ok
    ? ["Chain", h("span", null, `${chain.data.chain_id} · height ${chain.data.height}`, chain.data.catching_up ? pill("catching up", "warn") : null)]
    : chain.status === 404 ? ["Chain", h("span", { class: "muted" }, "no chain")] : null;
  return kv([
    ["Peer ID", mono(d.peer_id, "wrap peer-id")],
    d.version !== undefined && ["Version", `${d.version}${d.go_version ? " (" + d.go_version + ")" : ""}`],
    d.network_id !== undefined && ["Network", typeof d.epoch === "number" ? `${d.network_id} · epoch ${d.epoch}` : d.network_id],
    d.uptime_seconds !== undefined && ["Uptime", `${duration(d.uptime_seconds)} (since ${clock(d.started_at)})`],
    d.api && ["API", mono(d.api)],
    ["Reachability", pill(reach, reach === "public" ? "ok" : reach === "private" ? "warn" : "muted")],
    d.peers !== undefined && ["Peers", `${d.peers} connected · ${p2p.dht_peers ?? 0} in the DHT`],
    ["Listening on", list(p2p.listen_addrs || d.listen_addrs)],
    ["Advertised", list(p2p.advertised_addrs)],
    p2p.relay_addrs && ["Relay", list(p2p.relay_addrs)],
    chainLine,
  ]);
}

// --- GPUs ---

function drawGPUs(res, st) {
  if (!res.ok) return unavailable(res);
  const gs = res.data || [];
  if (gs.length === 0) {
    const driver = st.ok && st.data.gpu_driver ? st.data.gpu_driver : "none";
    return [h("p", { class: "nogpu" }, "no GPU"), note(`This host serves on CPU (driver: ${driver}).`, "muted")];
  }
  return h("div", { class: "gpus" }, gs.map((g) => {
    const sm = g.sample || {};
    const key = g.uuid || String(g.index);
    const hist = gpuHistory.get(key) || [];
    if (g.sample) {
      hist.push(sm.utilization_percent || 0);
      while (hist.length > HISTORY) hist.shift();
      gpuHistory.set(key, hist);
    }
    const used = sm.memory_used_bytes || 0;
    const total = g.memory_total_bytes || used + (sm.memory_free_bytes || 0);
    const util = sm.utilization_percent || 0;
    const temp = sm.temperature_c || 0;
    const healthy = g.sample ? sm.healthy !== false : true;
    return h("div", { class: "gpu" },
      h("div", { class: "gpu-head" }, h("strong", null, `#${g.index} ${g.name || "GPU"}`),
        g.sample ? pill(healthy ? "healthy" : "unhealthy", healthy ? "ok" : "bad") : pill("no sample yet", "muted")),
      sm.health_detail ? note(sm.health_detail, "bad") : null,
      h("div", { class: "metric" }, h("span", { class: "label" }, "Utilisation"), gauge(util / 100, util > 90 ? "hot" : ""), h("span", { class: "val" }, `${util}%`)),
      h("div", { class: "metric" }, h("span", { class: "label" }, "Memory"), gauge(total ? used / total : 0), h("span", { class: "val" }, `${bytes(used)} / ${bytes(total)}`)),
      h("div", { class: "metric" }, h("span", { class: "label" }, "Temperature"), gauge(temp / 100, temp >= 85 ? "hot" : ""), h("span", { class: "val" }, `${temp} °C`)),
      h("div", { class: "metric" }, h("span", { class: "label" }, "Power"), gauge(sm.power_limit_watts ? sm.power_watts / sm.power_limit_watts : 0),
        h("span", { class: "val" }, `${Math.round(sm.power_watts || 0)} W${sm.power_limit_watts ? " / " + Math.round(sm.power_limit_watts) + " W" : ""}`)),
      h("div", { class: "spark-row" }, h("span", { class: "label" }, "History"), sparkline(hist, 100, { label: `utilisation, last ${hist.length} readings` })));
  }));
}

// --- models and their queues ---

function drawModels(st) {
  if (!st.ok) return unavailable(st);
  const models = st.data.models || [];
  const runtimes = new Map((st.data.runtimes || []).map((r) => [r.name, r]));
  if (models.length === 0) return note("no models served", "muted");
  return table(["Model", { v: "Context", class: "num" }, "Health", { v: "Queue", class: "num" }], models.map((m) => {
    const rt = runtimes.get(m.runtime);
    const health = rt ? pill(rt.status || (rt.ok ? "ready" : "down"), rt.ok ? "ok" : "bad") : h("span", { class: "muted" }, "unknown");
    return [
      h("div", { class: "cell-stack" }, h("span", { class: "model" }, m.id),
        m.runtime ? h("span", { class: "sub" }, "runtime " + m.runtime) : null),
      { v: m.context_length ? m.context_length.toLocaleString("en-US") : "–", class: "num" },
      health,
      { v: rt && rt.queue_depth !== undefined && rt.queue_depth !== null ? String(rt.queue_depth) : "–", class: "num" },
    ];
  }), "models");
}

// --- peers ---

function drawPeers(res) {
  if (!res.ok) return unavailable(res);
  const ps = res.data || [];
  if (ps.length === 0) return note("no peers connected", "muted");
  return table(["Peer", "Transport", { v: "Latency", class: "num" }], ps.map((p) => [
    h("div", { class: "cell-stack" }, h("span", { class: "mono", title: p.id }, short(p.id, 12, 8)),
      h("span", { class: "sub mono" }, (p.addrs || [])[0] || "")),
    `${p.transport || ""}${p.direction ? " · " + p.direction : ""}`,
    { v: p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–", class: "num" },
  ]), "peers");
}

// --- recent requests ---

// loadRequests reads the receipts of the requests this node served, epoch
// by epoch back from the current one (four at a time), until it has enough
// rows or has looked MAX_BACK epochs back.
async function loadRequests(st) {
  const id = st.data.peer_id;
  const q = (extra) => get(`/api/v1/receipts?node=${encodeURIComponent(id)}&limit=1000${extra}`);
  if (typeof st.data.epoch !== "number") return q("");
  const out = [];
  for (let e = st.data.epoch, seen = 0; e >= 0 && seen < MAX_BACK && out.length < REQUESTS; e -= 4, seen += 4) {
    const batch = [];
    for (let k = e; k > e - 4 && k >= 0; k--) batch.push(q(`&epoch=${k}`));
    const pages = await Promise.all(batch);
    const bad = pages.find((p) => !p.ok);
    if (bad) return bad;
    for (const p of pages) out.push(...(p.data.receipts || []));
  }
  return { ok: true, data: { receipts: out } };
}

function drawRequests(res) {
  if (!res.ok) return res.status === 404 ? note("this node keeps no receipts", "muted") : unavailable(res);
  const rs = (res.data.receipts || []).slice().sort((a, b) => String(b.completed_at).localeCompare(String(a.completed_at))).slice(0, REQUESTS);
  if (rs.length === 0) return note(`no requests served in the last ${MAX_BACK} epochs`, "muted");
  return table(["Completed", "Receipt", "Model", "Epoch", { v: "Tokens in / out", class: "num" }, { v: "Charge", class: "num" }, "Finish", "Settled"], rs.map((r) => [
    clock(r.completed_at),
    { v: r.id, class: "mono receipt-id" },
    { v: r.model, class: "model" },
    { v: String(r.epoch), class: "num" },
    { v: `${r.input_tokens} / ${r.output_tokens}`, class: "num" },
    { v: usd(r.charge), class: "num" },
    r.finish || "",
    r.settled ? pill("settled", "ok") : pill("pending", "muted"),
  ]), "requests");
}

// --- balance, earnings and epoch settlements ---

// earned is what node earned in an epoch: its serving cost and routing
// fees over every model.
function earned(ep, node) {
  let cost = 0;
  let routing = 0;
  for (const m of ep.models || []) {
    const sp = m.split || {};
    for (const p of sp.node_costs || []) if (p.node === node) cost += p.amount;
    for (const p of sp.routing_fees || []) if (p.node === node) routing += p.amount;
  }
  return { cost, routing };
}

function epochLabel(ep) {
  return "#" + ep.epoch;
}

function drawBalance(chain, acct, eps, node) {
  if (!chain.ok) return chain.status === 404 ? noChain() : unavailable(chain);
  const out = [];
  if (acct.ok) {
    const bal = acct.data.balances || {};
    const denoms = Object.keys(bal).sort((a, b) => (a === "usd" ? -1 : b === "usd" ? 1 : a.localeCompare(b)));
    out.push(h("div", { class: "balance" },
      h("div", { class: "big" }, usd(bal.usd || 0)), h("div", { class: "muted" }, "usd balance")));
    const rest = denoms.filter((d) => d !== "usd");
    const pairs = rest.map((d) => [d, amount(bal[d])]);
    if (acct.data.node) pairs.push(["Node bond", amount(acct.data.node.bond) + " flock"]);
    if (acct.data.unpaid_usd) pairs.push(["Unpaid", usd(acct.data.unpaid_usd)]);
    if (pairs.length) out.push(kv(pairs));
  } else if (acct.status === 404) {
    out.push(h("div", { class: "balance" }, h("div", { class: "big" }, usd(0)), h("div", { class: "muted" }, "no account on the chain yet")));
  } else {
    out.push(unavailable(acct));
  }
  if (!eps.ok) {
    out.push(unavailable(eps));
    return out;
  }
  const list = eps.data.epochs || [];
  if (list.length === 0) {
    out.push(note("no epoch has closed yet", "muted"));
    return out;
  }
  const series = [{ name: "serving", class: "s-node" }, { name: "routing", class: "s-routing" }];
  const cols = list.map((ep) => {
    const e = earned(ep, node);
    return { label: epochLabel(ep), values: [e.cost, e.routing] };
  });
  const total = cols.reduce((a, c) => a + c.values[0] + c.values[1], 0);
  out.push(h("h3", null, `Earned over the last ${list.length} epochs: ${usd(total)}`));
  out.push(stackedBars(cols, series, usd, { width: width("balance"), height: 170, slots: EPOCHS, label: "earnings per epoch" }));
  out.push(legend(series));
  return out;
}

const SPLIT = [
  { name: "node pay", class: "s-node", of: (e) => e.cost },
  { name: "routing", class: "s-routing", of: (e) => e.routing_fee },
  { name: "buybacks", class: "s-buyback", of: (e) => e.mt_buyback + e.flock_buyback },
  { name: "treasury", class: "s-treasury", of: (e) => e.treasury },
  { name: "issuer", class: "s-issuer", of: (e) => e.issuer },
];

function drawEpochs(chain, eps, node) {
  if (!chain.ok) return chain.status === 404 ? noChain() : unavailable(chain);
  if (!eps.ok) return unavailable(eps);
  const list = eps.data.epochs || [];
  if (list.length === 0) return note(`no epoch has closed yet (next to close: ${eps.data.next_epoch ?? 0})`, "muted");
  const chart = stackedBars(list.map((e) => ({ label: epochLabel(e), values: SPLIT.map((x) => x.of(e)) })), SPLIT, usd,
    { width: width("epochs"), height: 220, slots: EPOCHS, label: "revenue split per epoch" });
  const rows = list.slice().reverse().map((e) => {
    const mine = earned(e, node);
    return [
      { v: String(e.epoch), class: "num" },
      clock(e.closed_time_ms),
      { v: `${e.paid}${e.unpaid ? " (+" + e.unpaid + " unpaid)" : ""}`, class: "num" },
      { v: usd(e.gross), class: "num strong" },
      { v: usd(e.cost), class: "num" },
      { v: usd(e.routing_fee), class: "num" },
      { v: usd(e.mt_buyback), class: "num" },
      { v: usd(e.flock_buyback), class: "num" },
      { v: usd(e.treasury), class: "num" },
      { v: usd(e.issuer), class: "num" },
      { v: usd(mine.cost + mine.routing), class: "num strong" },
    ];
  });
  return [
    h("div", { class: "chart-wrap" }, chart, legend(SPLIT)),
    table([{ v: "Epoch", class: "num" }, "Closed", { v: "Receipts", class: "num" }, { v: "Gross", class: "num" },
      { v: "Node pay", class: "num" }, { v: "Routing", class: "num" }, { v: "MT buyback", class: "num" },
      { v: "FLOCK buyback", class: "num" }, { v: "Treasury", class: "num" }, { v: "Issuer", class: "num" },
      { v: "This node", class: "num" }], rows, "epochs"),
  ];
}

// --- the loop ---

async function refresh() {
  const [st, gpus, peers, chain] = await Promise.all([
    get("/api/v1/status"), get("/api/v1/gpus"), get("/api/v1/peers"), get("/api/v1/chain"),
  ]);
  drawHeader(st);
  section("node", () => drawNode(st, chain));
  section("gpus", () => drawGPUs(gpus, st));
  section("models", () => drawModels(st));
  section("peers", () => drawPeers(peers));
  const node = st.ok ? st.data.peer_id : "";
  const none = { ok: false, status: 0, data: null, error: "no node identity" };
  let acct = none;
  let eps = none;
  let reqs = none;
  const jobs = [];
  if (st.ok && node) {
    jobs.push(loadRequests(st).then((r) => { reqs = r; }));
    if (chain.ok) {
      const next = chain.data.state && typeof chain.data.state.next_epoch === "number" ? chain.data.state.next_epoch : EPOCHS;
      jobs.push(get(`/api/v1/accounts/${encodeURIComponent(node)}`).then((r) => { acct = r; }));
      jobs.push(get(`/api/v1/epochs?after=${Math.max(0, next - EPOCHS)}&limit=${EPOCHS}`).then((r) => { eps = r; }));
    }
  } else if (!st.ok) {
    reqs = acct = eps = st;
  }
  await Promise.all(jobs);
  section("requests", () => drawRequests(reqs));
  section("balance", () => drawBalance(chain, acct, eps, node));
  section("epochs", () => drawEpochs(chain, eps, node));
  document.body.dataset.refreshed = String(Date.now());
}

async function loop() {
  try {
    await refresh();
  } catch (e) {
    const live = document.getElementById("live");
    live.setAttribute("class", "live bad");
    fill(live, h("span", { class: "dot" }), h("span", { class: "live-text" }, "refresh failed: " + (e && e.message ? e.message : String(e))));
  } finally {
    setTimeout(loop, REFRESH_MS);
  }
}

loop();
