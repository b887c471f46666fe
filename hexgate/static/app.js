// hexgate playground: plain browser JavaScript, no build step. It talks to the gateway that served it
// (same origin) through the OpenAI API under /v1 and the /providers status route. Markdown is rendered
// by the vendored `marked` and sanitised by the vendored DOMPurify before it reaches the page.
"use strict";

(() => {
  const API = location.origin + "/v1";
  const KEY_STORE = "hexgate.apiKey";
  const MODEL_STORE = "hexgate.model";
  const EMBED_MODEL_STORE = "hexgate.embedModel";

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  };

  const state = {
    models: [],
    byId: new Map(),
    history: [], // OpenAI messages of this conversation (without the system prompt)
    controller: null, // AbortController of the running chat request
  };

  // ---- gateway key and HTTP ---------------------------------------------------------------------

  const apiKey = () => localStorage.getItem(KEY_STORE) || "";

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const key = apiKey();
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  // An error from a non-2xx answer, with the message of OpenAI's error envelope when there is one.
  async function httpError(response) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = response.status;
    return err;
  }

  function describe(err) {
    if (err.status === 401) return "Authentication failed: " + err.message + " — enter a gateway key above.";
    return err.message || String(err);
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: headers(false) });
    if (!response.ok) throw await httpError(response);
    return response.json();
  }

  async function postJSON(url, body, signal) {
    const response = await fetch(url, { method: "POST", headers: headers(true), body: JSON.stringify(body), signal });
    if (!response.ok) throw await httpError(response);
    return response;
  }

  function setStatus(node, text, isError) {
    node.textContent = text;
    node.classList.toggle("error", !!isError);
  }

  // ---- markdown ----------------------------------------------------------------------------------

  // Images in model output load only from this gateway, data: or blob: (the page's CSP enforces the same):
  // a remote image URL could carry the conversation to another host. Others become a visible note.
  function isLocalImage(src) {
    try {
      const url = new URL(src, location.href);
      return url.origin === location.origin || url.protocol === "data:" || url.protocol === "blob:";
    } catch (_) {
      return false;
    }
  }

  let imageHook = false;
  function guardImages() {
    if (imageHook) return;
    imageHook = true;
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.nodeName !== "IMG") return;
      const src = node.getAttribute("src") || "";
      if (!isLocalImage(src)) {
        node.removeAttribute("src");
        node.removeAttribute("srcset");
        node.setAttribute("data-blocked-src", src);
      }
    });
  }

  function renderMarkdown(node, text) {
    if (window.marked && window.DOMPurify) {
      guardImages();
      node.innerHTML = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: false }));
      for (const img of node.querySelectorAll("img[data-blocked-src]")) {
        const note = el("span", { class: "blocked-image", title: img.dataset.blockedSrc,
          text: `[image not loaded: ${img.getAttribute("alt") || img.dataset.blockedSrc}]` });
        img.replaceWith(note);
      }
    } else {
      node.textContent = text; // the vendored libraries did not load: plain text is still safe
    }
  }

  function addCopyButtons(node) {
    for (const pre of node.querySelectorAll("pre")) {
      const button = el("button", { type: "button", class: "copy-code", text: "copy" });
      button.addEventListener("click", () => copy(pre.querySelector("code")?.textContent ?? pre.textContent, button));
      pre.append(button);
    }
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = el("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const before = button.textContent;
    button.textContent = "copied";
    setTimeout(() => { button.textContent = before; }, 1200);
  }

  // The console's script (console.js, loaded after this one) builds its tabs with the same helpers.
  window.hexgateUI = Object.freeze({ $, el, copy });

  // ---- models ------------------------------------------------------------------------------------

  const caps = (m) => m.capabilities || {};
  // Capabilities the provider did not state: an id naming "embed" is taken for an embedding model.
  const isEmbedding = (m) => caps(m).embeddings === true || typeof m.embedding_dimensions === "number" ||
    (caps(m).embeddings === undefined && caps(m).chat === undefined && /embed/i.test(m.id));
  const isChat = (m) => caps(m).chat !== false && !(isEmbedding(m) && caps(m).chat !== true);
  const groupOf = (m) => (m.alias_of ? "aliases" : m.provider || m.id.split("/")[0]);

  function fillSelect(select, models, stored) {
    const previous = select.value || localStorage.getItem(stored);
    select.replaceChildren();
    const groups = new Map();
    for (const m of models) {
      const g = groupOf(m);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(m);
    }
    const names = [...groups.keys()].sort((a, b) => (a === "aliases") - (b === "aliases") || a.localeCompare(b));
    for (const g of names) {
      const group = el("optgroup", { label: g });
      for (const m of groups.get(g)) group.append(el("option", { value: m.id, text: m.id, title: m.display_name || m.id }));
      select.append(group);
    }
    if (previous && models.some((m) => m.id === previous)) select.value = previous;
    select.disabled = models.length === 0;
  }

  function kTokens(n) {
    if (n >= 1024 && n % 1024 === 0) return `${n / 1024}k`;
    return n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
  }

  function showBadges() {
    const box = $("badges");
    box.replaceChildren();
    const m = state.byId.get($("model").value);
    if (!m) return;
    const c = caps(m);
    if (m.display_name) box.append(el("div", { class: "model-name", text: m.display_name }));
    for (const [flag, label] of [["chat", "chat"], ["streaming", "streaming"], ["tools", "tools"], ["vision", "vision"],
      ["reasoning", "reasoning"], ["json_output", "JSON"], ["embeddings", "embeddings"]]) {
      if (c[flag] === true) box.append(el("span", { class: "badge cap", text: label }));
    }
    if (m.context_window) box.append(el("span", { class: "badge info", text: `${kTokens(m.context_window)} context` }));
    if (m.max_output_tokens) box.append(el("span", { class: "badge info", text: `${kTokens(m.max_output_tokens)} output` }));
    if (m.embedding_dimensions) box.append(el("span", { class: "badge info", text: `${m.embedding_dimensions} dims` }));
    if (m.alias_of) box.append(el("span", { class: "badge", text: "alias of " + m.alias_of.join(", ") }));
    box.append(el("span", { class: "badge", text: "by " + (m.provider || m.owned_by) }));
  }

  async function loadModels() {
    setStatus($("model-status"), "Loading models…");
    setStatus($("embed-status"), "");
    try {
      const list = await getJSON(API + "/models");
      state.models = list.data || [];
      state.byId = new Map(state.models.map((m) => [m.id, m]));
      const chat = state.models.filter(isChat);
      const embed = state.models.filter(isEmbedding);
      fillSelect($("model"), chat, MODEL_STORE);
      fillSelect($("embed-model"), embed, EMBED_MODEL_STORE);
      setStatus($("model-status"), `${chat.length} chat model${chat.length === 1 ? "" : "s"}`);
      if (!embed.length) setStatus($("embed-status"), "No embedding model is configured.");
    } catch (err) {
      state.models = [];
      state.byId = new Map();
      fillSelect($("model"), [], MODEL_STORE);
      fillSelect($("embed-model"), [], EMBED_MODEL_STORE);
      setStatus($("model-status"), describe(err), true);
      setStatus($("embed-status"), describe(err), true);
    }
    showBadges();
    renderSnippet();
  }

  // ---- chat --------------------------------------------------------------------------------------

  function numberOf(id) {
    const raw = $(id).value.trim();
    return raw === "" ? undefined : Number(raw);
  }

  function requestBody() {
    const messages = [];
    const system = $("system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...state.history);
    const body = { model: $("model").value, messages, stream: true, stream_options: { include_usage: true } };
    const temperature = numberOf("temperature");
    const topP = numberOf("top-p");
    const maxTokens = numberOf("max-tokens");
    if (temperature !== undefined) body.temperature = temperature;
    if (topP !== undefined) body.top_p = topP;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    const tools = $("tools").value.trim();
    if (tools) body.tools = JSON.parse(tools);
    return body;
  }

  function userBubble(text) {
    $("empty-hint")?.remove();
    const node = el("div", { class: "msg user" }, text);
    $("messages").append(node);
    node.scrollIntoView({ block: "end" });
  }

  // One assistant answer being streamed into the transcript.
  class AnswerView {
    constructor(model) {
      this.content = "";
      this.reasoning = "";
      this.toolCalls = []; // by index: {id, name, arguments}
      this.node = el("div", { class: "msg assistant" });
      this.node.append(el("div", { class: "who", text: model }));
      this.reasoningBox = el("details", { class: "reasoning", hidden: "" });
      this.reasoningBox.append(el("summary", { text: "Reasoning" }), el("div", { class: "reasoning-text" }));
      this.contentBox = el("div", { class: "content" });
      this.toolsBox = el("div", { class: "tool-calls" });
      this.meta = el("div", { class: "meta" });
      this.node.append(this.reasoningBox, this.contentBox, this.toolsBox, this.meta);
      $("messages").append(this.node);
    }

    apply(chunk) {
      for (const choice of chunk.choices || []) {
        if (choice.index !== 0) continue;
        const delta = choice.delta || {};
        if (delta.content) this.content += delta.content;
        if (delta.reasoning_content) this.reasoning += delta.reasoning_content;
        for (const call of delta.tool_calls || []) {
          const slot = (this.toolCalls[call.index] ||= { id: "", name: "", arguments: "" });
          if (call.id) slot.id = call.id;
          if (call.function?.name) slot.name += call.function.name;
          if (call.function?.arguments) slot.arguments += call.function.arguments;
        }
        if (choice.finish_reason) this.finish = choice.finish_reason;
      }
      if (chunk.usage) this.usage = chunk.usage;
    }

    render() {
      if (this.reasoning) {
        this.reasoningBox.hidden = false;
        this.reasoningBox.querySelector(".reasoning-text").textContent = this.reasoning;
        this.reasoningBox.querySelector("summary").textContent = `Reasoning (${this.reasoning.length} characters)`;
      }
      renderMarkdown(this.contentBox, this.content);
      this.toolsBox.replaceChildren();
      for (const call of this.toolCalls.filter(Boolean)) {
        let args = call.arguments;
        try { args = JSON.stringify(JSON.parse(call.arguments), null, 2); } catch (_) { /* still streaming */ }
        const box = el("div", { class: "tool-call" });
        box.append(el("span", { class: "muted", text: "tool call " }), el("span", { class: "name", text: call.name }),
          el("span", { class: "muted", text: call.id ? `  (${call.id})` : "" }), el("pre", { text: args }));
        this.toolsBox.append(box);
      }
      this.node.scrollIntoView({ block: "end" });
    }

    done(note, isError) {
      this.render();
      addCopyButtons(this.contentBox);
      const parts = [];
      if (this.finish) parts.push(`finish: ${this.finish}`);
      if (this.usage) parts.push(`tokens: ${this.usage.prompt_tokens} in, ${this.usage.completion_tokens} out`);
      if (note) parts.push(note);
      this.meta.textContent = parts.join(" · ");
      this.meta.classList.toggle("error", !!isError);
      this.node.dataset.state = isError ? "error" : note === "stopped" ? "stopped" : "done";
    }

    message() {
      const msg = { role: "assistant", content: this.content };
      const calls = this.toolCalls.filter(Boolean);
      if (calls.length) {
        msg.tool_calls = calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
      }
      return msg;
    }
  }

  // Read an SSE body: `data: <json>` frames, `data: [DONE]` last; `onEvents` gets each read's events at once.
  async function readSSE(response, onEvents) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        const frames = buffer.split(/\r?\n\r?\n/);
        buffer = frames.pop();
        const events = [];
        let finished = false;
        for (const frame of frames) {
          const data = frame.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
          if (data === "[DONE]") { finished = true; break; }
          if (data) events.push(JSON.parse(data));
        }
        if (events.length) onEvents(events);
        if (finished) return;
      }
    } catch (err) {
      reader.cancel().catch(() => {}); // close the connection: the gateway then cancels the upstream call
      throw err;
    }
  }

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").disabled = !busy;
  }

  async function send(text) {
    let body;
    try {
      state.history.push({ role: "user", content: text });
      body = requestBody();
    } catch (err) {
      state.history.pop();
      setStatus($("model-status"), "Tools must be a JSON array: " + err.message, true);
      return;
    }
    userBubble(text);
    const view = new AnswerView(body.model);
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    try {
      const response = await postJSON(API + "/chat/completions", body, controller.signal);
      await readSSE(response, (events) => {
        for (const event of events) {
          if (event.error) throw Object.assign(new Error(event.error.message || "upstream error"), { midStream: true });
          view.apply(event);
        }
        view.render();
      });
      view.done();
    } catch (err) {
      if (err.name === "AbortError") view.done("stopped");
      else view.done(describe(err), true);
    } finally {
      state.controller = null;
      setBusy(false);
    }
    const answer = view.message();
    if (answer.content || answer.tool_calls) state.history.push(answer);
  }

  // ---- embeddings --------------------------------------------------------------------------------

  async function embed() {
    const out = $("embed-result");
    out.replaceChildren();
    const model = $("embed-model").value;
    if (!model) return;
    setStatus($("embed-status"), "Embedding…");
    try {
      const response = await postJSON(API + "/embeddings", { model, input: $("embed-input").value, encoding_format: "float" });
      const result = await response.json();
      const vector = result.data[0].embedding;
      const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
      out.append(
        el("div", { class: "dims", id: "embed-dims", text: `${vector.length} dimensions` }),
        el("div", { class: "muted", text: `norm ${norm.toFixed(4)} · ${result.usage?.prompt_tokens ?? "?"} tokens · model ${result.model}` }),
        el("pre", { class: "values", text: "[" + vector.slice(0, 8).map((v) => v.toFixed(5)).join(", ") + (vector.length > 8 ? ", …]" : "]") }),
      );
      setStatus($("embed-status"), "");
    } catch (err) {
      setStatus($("embed-status"), describe(err), true);
    }
  }

  // ---- providers ---------------------------------------------------------------------------------

  // The admin key (kept by console.js for this browser tab): with it the tab also shows circuit state.
  const adminKey = () => sessionStorage.getItem("hexgate.adminKey") || "";
  const KNOWN_PROVIDER_FIELDS = new Set(["id", "plugin", "distribution", "version", "ok", "models", "error"]);

  // Fields /providers has beyond the known ones (e.g. a provider's worker state), shown as they come.
  function details(p) {
    const cell = el("td", { class: "details" });
    for (const [name, value] of Object.entries(p)) {
      if (KNOWN_PROVIDER_FIELDS.has(name) || value === null || value === undefined) continue;
      const text = typeof value === "object" ? JSON.stringify(value) : String(value);
      cell.append(el("div", {}, el("span", { class: "muted", text: name + ": " }), el("span", { class: "mono", text })));
    }
    if (!cell.childNodes.length) cell.textContent = "—";
    return cell;
  }

  function circuitsCell(health) {
    const cell = el("td", { class: "admin-only circuits" });
    const circuits = health?.circuits || [];
    if (!health) cell.textContent = "—";
    else if (!circuits.length) cell.append(el("span", { class: "circuit closed", text: "closed" }));
    for (const c of circuits) {
      const note = c.state === "open" ? ` (${Math.ceil(c.cooldown_remaining)} s left)` : c.failures ? ` (${c.failures} failures)` : "";
      cell.append(el("div", { class: "circuit-row" }, el("span", { class: "circuit " + c.state, text: c.state }),
        el("span", { class: "mono small", text: " " + c.target.slice(c.target.indexOf("/") + 1) }),
        el("div", { class: "muted small", text: note.trim() })));
    }
    return cell;
  }

  function lastErrorCell(health) {
    const cell = el("td", { class: "admin-only last-error" });
    const last = health?.last_error;
    if (!last) {
      cell.textContent = "—";
      return cell;
    }
    const when = new Date(last.time * 1000).toISOString().replace("T", " ").slice(0, 19);
    cell.append(el("div", { class: "fail", text: `${last.status} ${last.error}` }), el("div", { class: "muted small", text: when + " UTC" }));
    return cell;
  }

  async function loadProviders() {
    const body = $("providers-table").querySelector("tbody");
    const plugins = $("plugins-table").querySelector("tbody");
    setStatus($("providers-status"), "Asking every provider for its model list…");
    try {
      let report;
      if (adminKey()) {
        const response = await fetch(location.origin + "/admin/providers", { headers: { Authorization: "Bearer " + adminKey() } });
        if (!response.ok) throw await httpError(response);
        report = await response.json();
      } else {
        report = await getJSON(location.origin + "/providers");
      }
      const health = new Map((report.health || []).map((h) => [h.id, h]));
      $("version").textContent = "v" + report.gateway_version;
      body.replaceChildren(...report.providers.map((p) => {
        const row = el("tr", { "data-provider": p.id });
        row.append(
          el("td", { text: p.id }), el("td", { text: p.plugin }),
          el("td", { text: p.distribution ? `${p.distribution} ${p.version}` : "—" }),
          el("td", { text: p.models ?? "—" }),
          el("td", { class: p.ok ? "ok" : "fail", text: p.ok ? "ok" : p.error }),
          circuitsCell(health.get(p.id)),
          lastErrorCell(health.get(p.id)),
          details(p),
        );
        return row;
      }));
      plugins.replaceChildren(...report.plugins.map((p) => {
        const row = el("tr");
        row.append(el("td", { text: p.name }), el("td", { text: p.value }), el("td", { text: `${p.distribution} ${p.version}` }));
        return row;
      }));
      setStatus($("providers-status"), `${report.providers.length} provider(s) configured`);
    } catch (err) {
      setStatus($("providers-status"), describe(err), true);
    }
  }

  // ---- client snippets ---------------------------------------------------------------------------

  let snippetLang = "curl";
  let snippetModel = ""; // the model last picked in either tab

  function snippetText(lang, model, embedding) {
    const key = "$HEXGATE_API_KEY";
    if (lang === "curl") {
      if (embedding) {
        return `curl ${API}/embeddings \\\n  -H "Authorization: Bearer ${key}" \\\n  -H "Content-Type: application/json" \\\n` +
          `  -d '{"model": "${model}", "input": "Hello"}'`;
      }
      return `curl -N ${API}/chat/completions \\\n  -H "Authorization: Bearer ${key}" \\\n  -H "Content-Type: application/json" \\\n` +
        `  -d '{\n    "model": "${model}",\n    "stream": true,\n    "messages": [{"role": "user", "content": "Hello"}]\n  }'`;
    }
    if (lang === "python") {
      const head = `import os\nfrom openai import OpenAI\n\nclient = OpenAI(\n    base_url="${API}",\n` +
        `    api_key=os.environ.get("HEXGATE_API_KEY", "unused"),\n)\n\n`;
      if (embedding) return head + `result = client.embeddings.create(model="${model}", input="Hello")\nprint(len(result.data[0].embedding))`;
      return head + `stream = client.chat.completions.create(\n    model="${model}",\n` +
        `    messages=[{"role": "user", "content": "Hello"}],\n    stream=True,\n)\nfor chunk in stream:\n` +
        `    if chunk.choices:\n        print(chunk.choices[0].delta.content or "", end="", flush=True)`;
    }
    const head = `import OpenAI from "openai";\n\nconst client = new OpenAI({\n  baseURL: "${API}",\n` +
      `  apiKey: process.env.HEXGATE_API_KEY ?? "unused",\n});\n\n`;
    if (embedding) return head + `const result = await client.embeddings.create({ model: "${model}", input: "Hello" });\nconsole.log(result.data[0].embedding.length);`;
    return head + `const stream = await client.chat.completions.create({\n  model: "${model}",\n` +
      `  messages: [{ role: "user", content: "Hello" }],\n  stream: true,\n});\nfor await (const chunk of stream) {\n` +
      `  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");\n}`;
  }

  function renderSnippet() {
    const model = snippetModel || $("model").value || $("embed-model").value || "<model>";
    const embedding = state.byId.has(model) ? !isChat(state.byId.get(model)) : false;
    $("snippet-model").textContent = model;
    $("base-url").textContent = API;
    $("snippet").querySelector("code").textContent = snippetText(snippetLang, model, embedding);
  }

  // ---- wiring ------------------------------------------------------------------------------------

  function showTab(name) {
    for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
    for (const panel of document.querySelectorAll(".panel")) panel.classList.toggle("active", panel.id === "panel-" + name);
    if (name === "providers") loadProviders();
    if (name === "code") renderSnippet();
  }

  function init() {
    $("api-key").value = apiKey();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (key) localStorage.setItem(KEY_STORE, key);
      else localStorage.removeItem(KEY_STORE);
      loadModels();
      if ($("panel-providers").classList.contains("active")) loadProviders();
    });
    for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
    $("model").addEventListener("change", () => {
      localStorage.setItem(MODEL_STORE, $("model").value);
      snippetModel = $("model").value;
      showBadges();
      renderSnippet();
    });
    $("embed-model").addEventListener("change", () => {
      localStorage.setItem(EMBED_MODEL_STORE, $("embed-model").value);
      snippetModel = $("embed-model").value;
    });
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("prompt").value.trim();
      if (!text || state.controller || !$("model").value) return;
      $("prompt").value = "";
      send(text);
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("chat-form").requestSubmit();
      }
    });
    $("stop").addEventListener("click", () => state.controller?.abort());
    $("clear").addEventListener("click", () => {
      state.controller?.abort();
      state.history = [];
      $("messages").replaceChildren(el("p", { class: "empty muted", id: "empty-hint", text: "New conversation." }));
    });
    $("embed-run").addEventListener("click", embed);
    $("providers-refresh").addEventListener("click", loadProviders);
    document.addEventListener("hexgate:admin-key", () => {
      if ($("panel-providers").classList.contains("active")) loadProviders();
    });
    for (const button of document.querySelectorAll(".snippet-tabs button[data-lang]")) {
      button.addEventListener("click", () => {
        snippetLang = button.dataset.lang;
        for (const b of document.querySelectorAll(".snippet-tabs button[data-lang]")) b.classList.toggle("active", b === button);
        renderSnippet();
      });
    }
    $("copy-snippet").addEventListener("click", () => copy($("snippet").textContent, $("copy-snippet")));
    fetch(location.origin + "/", { headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((info) => { $("version").textContent = "v" + info.version; })
      .catch(() => {});
    loadModels();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
