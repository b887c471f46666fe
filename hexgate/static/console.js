// hexgate operator's console: the Keys, Usage and Live tabs of the playground. Plain browser JavaScript,
// no build step. Everything here comes from the admin API (/admin/*, /v1/usage), which checks the admin
// key (server.admin_key) on every call; the key is typed once into the page and kept for this browser tab
// only (sessionStorage). Without it the tabs show nothing and fetch nothing. Charts: the vendored uPlot.
"use strict";

(() => {
  const ADMIN_STORE = "hexgate.adminKey";
  const LIVE_MAX_ROWS = 200;

  const { $, el, copy } = window.hexgateUI;  // app.js

  // ---- admin key and HTTP -----------------------------------------------------------------------

  const adminKey = () => sessionStorage.getItem(ADMIN_STORE) || "";

  async function httpError(response) {
    let message = `${response.status} ${response.statusText}`;
    let param = null;
    try {
      const body = await response.json();
      if (body && body.error) {
        message = body.error.message || message;
        param = body.error.param ?? null;
      }
    } catch (_) { /* not JSON */ }
    return Object.assign(new Error(message), { status: response.status, param });
  }

  function describe(err) {
    if (err.status === 401) return "The admin key was refused: " + err.message;
    if (err.status === 403) return err.message;
    return err.message || String(err);
  }

  async function admin(path, { method = "GET", body, signal } = {}) {
    const headers = { Authorization: "Bearer " + adminKey() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(location.origin + path, {
      method, headers, signal, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await httpError(response);
    return response;
  }

  function setStatus(node, text, isError) {
    node.textContent = text;
    node.classList.toggle("error", !!isError);
  }

  // ---- formatting -------------------------------------------------------------------------------

  const int = (n) => Number(n || 0).toLocaleString("en-US");
  function usd(v) {
    v = Number(v || 0);
    if (v === 0) return "$0";
    if (Math.abs(v) < 0.01) return "$" + v.toPrecision(2);
    return "$" + v.toFixed(2);
  }
  const isoDay = (d) => d.toISOString().slice(0, 10);
  const stamp = (epoch) => new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  function duration(seconds) {
    if (!seconds) return "never renews";
    for (const [unit, size] of [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]]) {
      if (seconds % size === 0) return `${seconds / size}${unit}`;
    }
    return `${seconds}s`;
  }
  const ms = (v) => (v === undefined || v === null ? "—" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms");

  // ---- lock state -------------------------------------------------------------------------------

  function applyLock() {
    const unlocked = !!adminKey();
    document.body.classList.toggle("admin", unlocked);
    $("save-admin").textContent = unlocked ? "Lock" : "Unlock";
    $("admin-key").value = "";
    $("admin-key").disabled = unlocked;
    $("admin-key").placeholder = unlocked ? "Unlocked" : "Admin key";
    if (!unlocked) {
      stopLive();
      usage.seq++;
      keysSeq++;
      keysById.clear();
      $("keys-table").querySelector("tbody").replaceChildren();
      $("usage-table").querySelector("tbody").replaceChildren();
      $("live-table").querySelector("tbody").replaceChildren();
      $("usage-totals").replaceChildren();
      $("key-secret").hidden = true;
      usage.rows = [];
      live.seen.clear();
      destroyChart();
    }
  }

  function activeTab() {
    return document.querySelector(".tabs button.active")?.dataset.tab;
  }

  function refreshActive() {
    if (!adminKey()) return;
    const tab = activeTab();
    if (tab === "keys") loadKeys();
    if (tab === "usage") loadUsage();
    if (tab === "live") startLive();
  }

  // ---- keys -------------------------------------------------------------------------------------

  const keysById = new Map();
  let keysSeq = 0;

  function keyState(k) {
    if (k.revoked_at) return "revoked";
    if (k.expires_at && k.expires_at * 1000 <= Date.now()) return "expired";
    return "active";
  }

  function spentCell(k) {
    const cell = el("td", { class: "spent" });
    if (k.budget === null || k.budget === undefined) {
      cell.append(el("span", { text: `${usd(k.spent)} · no budget` }));
      return cell;
    }
    const meter = el("meter", { min: "0", max: String(k.budget || 0.000001), value: String(Math.min(k.spent, k.budget || 0)),
      high: String((k.budget || 0) * 0.8), optimum: "0", title: `${usd(k.spent)} of ${usd(k.budget)}` });
    cell.append(meter, el("span", { class: "small", text: ` ${usd(k.spent)} of ${usd(k.budget)}` }));
    return cell;
  }

  function keyRow(k) {
    const state = keyState(k);
    const row = el("tr", { "data-key-id": k.id, "data-key-name": k.name, "data-state": state });
    const name = el("td");
    name.append(el("div", { class: "strong", text: k.name }), el("div", { class: "muted small mono", text: `${k.id} · ${k.hint}` }));
    const action = el("td");
    if (state !== "revoked") {
      const button = el("button", { type: "button", class: "danger small-button revoke", text: "Revoke" });
      button.addEventListener("click", () => revoke(k));
      action.append(button);
    }
    row.append(
      name,
      el("td", { text: k.models.length ? k.models.join(", ") : "any" }),
      el("td", { class: "num", text: k.rpm ? `${int(k.requests_this_minute)} / ${int(k.rpm)}` : "—" }),
      el("td", { class: "num", text: k.tpm ? `${int(k.tokens_this_minute)} / ${int(k.tpm)}` : "—" }),
      spentCell(k),
      el("td", { text: k.budget !== null && k.budget !== undefined ? duration(k.period_seconds) : "—" }),
      el("td", { text: k.expires_at ? stamp(k.expires_at) : "never" }),
      el("td", { class: "state " + state, text: state }),
      action,
    );
    return row;
  }

  async function loadKeys() {
    if (!adminKey()) return;
    const status = $("keys-status");
    const seq = ++keysSeq;
    try {
      const list = await (await admin("/admin/keys")).json();
      if (seq !== keysSeq || !adminKey()) return;
      keysById.clear();
      for (const k of list.data) keysById.set(k.id, k);
      const rows = [...list.data].reverse(); // newest first
      $("keys-table").querySelector("tbody").replaceChildren(...rows.map(keyRow));
      const active = list.data.filter((k) => keyState(k) === "active").length;
      setStatus(status, `${list.data.length} key(s), ${active} active`);
      fillKeyFilter();
    } catch (err) {
      setStatus(status, describe(err), true);
    }
  }

  function clearFieldErrors() {
    for (const node of $("key-create").querySelectorAll(".field-error")) node.textContent = "";
    for (const node of $("key-create").querySelectorAll("input")) node.removeAttribute("aria-invalid");
  }

  function showFieldError(param, message) {
    const field = String(param || "").split(/[.[]/)[0];
    const slot = $("key-create").querySelector(`.field-error[data-for="${CSS.escape(field)}"]`) ||
      $("key-create").querySelector('.field-error[data-for=""]');
    slot.textContent = message;
    $("key-create").querySelector(`input[name="${CSS.escape(field)}"]`)?.setAttribute("aria-invalid", "true");
  }

  function keySpec() {
    const form = $("key-create");
    const spec = { name: form.elements.name.value.trim() };
    const models = form.elements.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) spec.models = models;
    for (const field of ["rpm", "tpm"]) {
      const raw = form.elements[field].value.trim();
      if (raw !== "") spec[field] = Number.isInteger(Number(raw)) ? Number(raw) : raw;
    }
    const budget = form.elements.budget.value.trim();
    if (budget !== "") spec.budget = Number(budget);
    for (const field of ["period", "expires"]) {
      const raw = form.elements[field].value.trim();
      if (raw) spec[field] = raw;
    }
    return spec;
  }

  async function createKey(event) {
    event.preventDefault();
    clearFieldErrors();
    const button = $("new-key-create");
    button.disabled = true;
    try {
      const created = await (await admin("/admin/keys", { method: "POST", body: keySpec() })).json();
      $("key-secret-value").textContent = created.key;
      $("key-secret").hidden = false;
      $("key-secret").dataset.keyId = created.id;
      $("key-create").reset();
      await loadKeys();
    } catch (err) {
      if (err.status === 400) showFieldError(err.param, err.message);
      else setStatus($("keys-status"), describe(err), true);
    } finally {
      button.disabled = false;
    }
  }

  function confirmDialog(text, okLabel) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  async function revoke(k) {
    const ok = await confirmDialog(
      `Revoke the key "${k.name}" (${k.hint})? Clients using it are refused (401) within a second. This cannot be undone.`,
      "Revoke",
    );
    if (!ok) return;
    try {
      await admin("/admin/keys/" + encodeURIComponent(k.id), { method: "DELETE" });
      setStatus($("keys-status"), `Revoked ${k.name}.`);
      await loadKeys();
    } catch (err) {
      setStatus($("keys-status"), describe(err), true);
    }
  }


  // ---- usage ------------------------------------------------------------------------------------

  const usage = { seq: 0, rows: [], series: [], bucket: "hour", sort: { field: "requests", dir: -1 }, metric: "tokens", plot: null };

  function setRange(days) {
    const until = new Date();
    const since = new Date(until.getTime() - (days - 1) * 86400000);
    $("usage-since").value = isoDay(since);
    $("usage-until").value = isoDay(until);
  }

  function fillKeyFilter() {
    const select = $("usage-key");
    const current = select.value;
    const options = [el("option", { value: "", text: "All keys" }), el("option", { value: "-", text: "No virtual key" })];
    for (const k of keysById.values()) options.push(el("option", { value: k.id, text: k.name }));
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  function fillFromRows(rows) {
    const providers = new Set([...$("usage-provider").options].map((o) => o.value).filter(Boolean));
    const models = new Set([...$("usage-models").options].map((o) => o.value));
    for (const r of rows) { providers.add(r.provider); models.add(r.model); }
    const select = $("usage-provider");
    const current = select.value;
    select.replaceChildren(el("option", { value: "", text: "All providers" }),
      ...[...providers].sort().map((p) => el("option", { value: p, text: p })));
    select.value = current;
    $("usage-models").replaceChildren(...[...models].sort().map((m) => el("option", { value: m })));
  }

  function usageQuery() {
    const since = $("usage-since").value;
    const until = $("usage-until").value;
    const span = since && until ? (Date.parse(until) - Date.parse(since)) / 86400000 + 1 : 99;
    const params = new URLSearchParams({ bucket: span <= 7 ? "hour" : "day" });
    if (since) params.set("since", since);
    if (until) params.set("until", until);
    for (const [name, id] of [["key", "usage-key"], ["provider", "usage-provider"], ["model", "usage-model"]]) {
      const value = $(id).value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  async function loadUsage(event) {
    event?.preventDefault();
    if (!adminKey()) return;
    const status = $("usage-status");
    const seq = ++usage.seq; // only the newest request draws: an older answer may arrive last
    setStatus(status, "Loading…");
    try {
      if (!keysById.size) await loadKeys();
      const report = await (await admin("/v1/usage?" + usageQuery())).json();
      if (seq !== usage.seq || !adminKey()) return;
      usage.rows = report.data;
      usage.series = report.series || [];
      usage.bucket = report.bucket;
      fillFromRows(report.data);
      renderTotals();
      renderUsageTable();
      renderChart();
      setStatus(status, `${report.since || "…"} to ${report.until || "…"}, per ${report.bucket}`);
    } catch (err) {
      if (seq === usage.seq) setStatus(status, describe(err), true);
    }
  }

  function renderTotals() {
    const t = usage.rows.reduce((a, r) => {
      a.requests += r.requests; a.errors += r.errors; a.input += r.input_tokens; a.output += r.output_tokens; a.cost += r.cost;
      return a;
    }, { requests: 0, errors: 0, input: 0, output: 0, cost: 0 });
    const box = (label, value, id) => el("div", { class: "total", id }, el("div", { class: "value", text: value }), el("div", { class: "muted small", text: label }));
    $("usage-totals").replaceChildren(
      box("requests", int(t.requests), "total-requests"), box("errors", int(t.errors), "total-errors"),
      box("input tokens", int(t.input), "total-input"), box("output tokens", int(t.output), "total-output"),
      box("cost", usd(t.cost), "total-cost"),
    );
  }

  const keyLabel = (r) => (r.key_id === "-" ? "no virtual key" : r.key_name || r.key_id);
  const sortValue = (r, field) => (field === "key" ? keyLabel(r).toLowerCase() : r[field]);

  function renderUsageTable() {
    const { field, dir } = usage.sort;
    const rows = [...usage.rows].sort((a, b) => {
      const x = sortValue(a, field), y = sortValue(b, field);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    for (const th of $("usage-table").querySelectorAll("th[data-sort]")) {
      th.classList.toggle("sorted-asc", th.dataset.sort === field && dir === 1);
      th.classList.toggle("sorted-desc", th.dataset.sort === field && dir === -1);
    }
    const body = $("usage-table").querySelector("tbody");
    if (!rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "8", class: "muted", text: "No usage in this range." })));
      return;
    }
    body.replaceChildren(...rows.map((r) => {
      const row = el("tr", { "data-key-id": r.key_id, "data-model": r.model });
      row.append(
        el("td", { text: keyLabel(r) }), el("td", { text: r.provider }), el("td", { class: "mono", text: r.model }),
        el("td", { class: "num requests", text: int(r.requests) }), el("td", { class: "num errors", text: int(r.errors) }),
        el("td", { class: "num input", text: int(r.input_tokens) }), el("td", { class: "num output", text: int(r.output_tokens) }),
        el("td", { class: "num cost", text: usd(r.cost) }),
      );
      return row;
    }));
  }

  function csv() {
    const quote = (v) => {
      let s = String(v ?? "");
      if (typeof v === "string" && /^([=+@\t\r]|-.)/.test(s)) s = "'" + s; // not a formula in a spreadsheet
      return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const head = ["key_id", "key_name", "provider", "model", "requests", "errors", "input_tokens", "output_tokens", "cost_usd"];
    const lines = [head.join(",")];
    for (const r of usage.rows) {
      lines.push([r.key_id, r.key_name, r.provider, r.model, r.requests, r.errors, r.input_tokens, r.output_tokens, r.cost].map(quote).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function downloadCSV() {
    const url = URL.createObjectURL(new Blob([csv()], { type: "text/csv" }));
    const link = el("a", { href: url, download: `hexgate-usage-${$("usage-since").value || "all"}-${$("usage-until").value || "now"}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  const METRICS = {
    tokens: { label: "tokens", series: [["input tokens", "input_tokens", "#3b5bdb"], ["output tokens", "output_tokens", "#e8590c"]] },
    requests: { label: "requests", series: [["requests", "requests", "#2b8a3e"], ["errors", "errors", "#c92a2a"]] },
    cost: { label: "USD", series: [["cost (USD)", "cost", "#862e9c"]] },
  };

  function destroyChart() {
    usage.plot?.destroy();
    usage.plot = null;
    $("usage-chart").replaceChildren();
    $("usage-chart").dataset.points = "0";
  }

  function renderChart() {
    destroyChart();
    const box = $("usage-chart");
    const metric = METRICS[usage.metric];
    const xs = usage.series.map((b) => b.start);
    const data = [xs, ...metric.series.map(([, field]) => usage.series.map((b) => b[field]))];
    box.dataset.points = String(usage.series.filter((b) => metric.series.some(([, f]) => b[f] > 0)).length);
    box.dataset.buckets = String(xs.length);
    if (!window.uPlot) {
      box.textContent = "The chart library did not load.";
      return;
    }
    const width = Math.max(280, box.clientWidth || 600);
    const money = usage.metric === "cost";
    const opts = {
      width,
      height: width < 500 ? 200 : 260,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        {},
        { size: 60, values: (u, splits) => splits.map((v) => (money ? usd(v) : v >= 1000 ? (v / 1000).toLocaleString("en-US") + "k" : String(v))) },
      ],
      series: [
        { label: "time (UTC)", value: (u, v) => (v === null || v === undefined ? "—" : stamp(v)) },
        ...metric.series.map(([label, , color]) => ({
          label, stroke: color, width: 2, fill: color + "22",
          points: { show: xs.length <= 60 },
          value: (u, v) => (v === null || v === undefined ? "—" : money ? usd(v) : int(v)),
          paths: usage.bucket === "day" && xs.length <= 60 ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        })),
      ],
    };
    usage.plot = new window.uPlot(opts, data, box);
  }

  // ---- live -------------------------------------------------------------------------------------

  const live = { controller: null, paused: false, seen: new Set() };

  function stopLive() {
    live.controller?.abort();
    live.controller = null;
  }

  function liveRow(e) {
    const row = el("tr", { "data-request-id": e.request_id, class: e.status >= 400 ? "failed" : "" });
    const key = e.key_name ? e.key_name : e.key_id || "—";
    const model = el("td", { class: "mono", text: e.model || "—" });
    if (e.prompt) model.append(el("div", { class: "muted small prompt", text: e.prompt, title: e.prompt }));
    row.append(
      el("td", { text: new Date(e.time * 1000).toISOString().slice(11, 19), title: new Date(e.time * 1000).toISOString() }),
      el("td", { text: key }),
      model,
      el("td", { text: e.provider || "—" }),
      el("td", { class: "num status-code", text: String(e.status), title: e.error || "" }),
      el("td", { class: "num", text: String(e.attempts ?? 0) }),
      el("td", { class: "num", text: ms(e.latency_ms) }),
      el("td", { class: "num", text: ms(e.ttft_ms) }),
      el("td", { class: "num tokens", text: `${int(e.input_tokens)} / ${int(e.output_tokens)}` }),
    );
    return row;
  }

  function addLive(entries) {
    if (live.paused) return;
    const body = $("live-table").querySelector("tbody");
    for (const e of entries) {
      const id = `${e.request_id}@${e.time}`;
      if (live.seen.has(id)) continue;
      live.seen.add(id);
      body.prepend(liveRow(e));
    }
    while (body.rows.length > LIVE_MAX_ROWS) body.lastElementChild.remove();
    if (live.seen.size > LIVE_MAX_ROWS * 4) live.seen = new Set([...live.seen].slice(-LIVE_MAX_ROWS * 2));
  }

  // Read an SSE body (fetch streaming: EventSource cannot send the Authorization header).
  async function readEvents(response, onEvents) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const frames = buffer.split(/\r?\n\r?\n/);
      buffer = frames.pop();
      const events = [];
      for (const frame of frames) {
        const data = frame.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) events.push(JSON.parse(data));
      }
      if (events.length) onEvents(events);
    }
  }

  async function startLive() {
    if (live.controller || !adminKey()) return;
    const controller = new AbortController();
    live.controller = controller;
    const status = $("live-status");
    while (!controller.signal.aborted && adminKey()) {
      try {
        const response = await admin("/admin/live", { signal: controller.signal });
        setStatus(status, "● live");
        status.classList.add("connected");
        await readEvents(response, addLive);
      } catch (err) {
        status.classList.remove("connected");
        if (controller.signal.aborted) break;
        setStatus(status, describe(err), true);
        if (err.status === 401 || err.status === 403) break;
      }
      if (!controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    if (live.controller === controller) live.controller = null;
    status.classList.remove("connected");
  }

  // ---- wiring -----------------------------------------------------------------------------------

  function init() {
    applyLock();
    setRange(7);
    $("admin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (adminKey()) {
        sessionStorage.removeItem(ADMIN_STORE);
      } else {
        const key = $("admin-key").value.trim();
        if (!key) return;
        sessionStorage.setItem(ADMIN_STORE, key);
      }
      applyLock();
      refreshActive();
      document.dispatchEvent(new CustomEvent("hexgate:admin-key"));
    });
    for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", refreshActive);
    $("keys-refresh").addEventListener("click", loadKeys);
    $("key-create").addEventListener("submit", createKey);
    $("key-secret-copy").addEventListener("click", () => copy($("key-secret-value").textContent, $("key-secret-copy")));
    $("key-secret-close").addEventListener("click", () => {
      $("key-secret").hidden = true;
      $("key-secret-value").textContent = "";
    });
    $("usage-filters").addEventListener("submit", loadUsage);
    $("usage-range").addEventListener("change", () => {
      const value = $("usage-range").value;
      if (value !== "custom") {
        setRange(Number(value));
        loadUsage();
      }
    });
    for (const id of ["usage-since", "usage-until"]) $(id).addEventListener("change", () => { $("usage-range").value = "custom"; });
    for (const id of ["usage-key", "usage-provider"]) $(id).addEventListener("change", () => loadUsage());
    $("usage-csv").addEventListener("click", downloadCSV);
    for (const th of $("usage-table").querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        const field = th.dataset.sort;
        usage.sort = usage.sort.field === field ? { field, dir: -usage.sort.dir } : { field, dir: th.classList.contains("num") ? -1 : 1 };
        renderUsageTable();
      });
    }
    for (const button of document.querySelectorAll(".metric-tabs button")) {
      button.addEventListener("click", () => {
        usage.metric = button.dataset.metric;
        for (const b of document.querySelectorAll(".metric-tabs button")) b.classList.toggle("active", b === button);
        renderChart();
      });
    }
    let resizeTimer = null;
    new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const box = $("usage-chart");
        if (usage.plot && box.clientWidth && Math.abs(box.clientWidth - usage.plot.width) > 8) renderChart();
      }, 150);
    }).observe($("usage-chart"));
    $("live-pause").addEventListener("click", () => {
      live.paused = !live.paused;
      $("live-pause").textContent = live.paused ? "Resume" : "Pause";
    });
    $("live-clear").addEventListener("click", () => $("live-table").querySelector("tbody").replaceChildren());
    refreshActive();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
