// The TimeBase web page (docs/web.md): plain JavaScript, no build step. It talks to the REST
// routes of the server that served it (same origin) and to its WebSocket /api/stream.
// Its state is exposed for tests and curious users as `window.timebase.state`.
(() => {
  "use strict";

  const KEY_STORAGE = "timebase.apiKey";
  const $ = (id) => document.getElementById(id);

  const state = {
    ready: false, // the page has set itself up
    loads: 0, // chart loads finished (success or error): tests wait for it to move
    loading: false,
    request: null, // the last chart request: {symbol, interval, start, end, provider, url}
    candles: 0, // candles drawn on the chart
    volumes: 0, // volume bars drawn
    first: null, // first and last candle's timestamp (ISO, UTC)
    last: null,
    provider: null, // the answer's provider ("mixed" when several)
    error: null, // {code, message, status} of the last failure, shown on the page
    warnings: [], // [{code, message, ...}] of the last answer (and of the live stream)
    providers: [], // GET /api/providers
    discovery: null, // GET /api/symbols/{symbol}/providers
    // GET /api/symbols?q=&type=&provider= (the catalogue): the symbol field, the type and provider
    search: { query: "", type: "", provider: "", total: 0, symbols: [], error: null },
    searches: 0, // symbol searches answered: tests wait for it to move
    live: { connected: false, subscribed: null, bars: 0, lastBar: null },
    authRequired: false, // the server answered 401 at least once
  };
  const timebase = { state };
  window.timebase = timebase;

  // ---- the API key: entered once, kept in sessionStorage for this browser session --------

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function showKeyStatus() {
    const key = apiKey();
    $("key-status").textContent = key
      ? `key ${key.slice(0, 6)}… kept for this browser session`
      : state.authRequired ? "this server requires an API key" : "";
    $("api-key").value = "";
    $("api-key").placeholder = key ? "key set (enter another to replace it)" : "only when the server requires one";
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, message, status, details) {
      super(message);
      this.code = code;
      this.status = status;
      this.details = details || {};
    }
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, { headers, cache: "no-store" });
    } catch (exc) {
      throw new ApiError("NETWORK_ERROR", `the server did not answer: ${exc.message}`, 0);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      throw new ApiError("BAD_RESPONSE", `HTTP ${response.status}: the answer is not JSON`, response.status);
    }
    if (response.status === 401) {
      state.authRequired = true;
      showKeyStatus();
    }
    if (!response.ok || !body || body.success !== true) {
      const error = (body && body.error) || {};
      let message = error.message || `HTTP ${response.status}`;
      if (response.status === 401) message += " — enter an API key at the top of the page";
      throw new ApiError(error.code || `HTTP_${response.status}`, message, response.status, error.details);
    }
    return body.data;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
    return search.toString();
  }

  // ---- messages on the page --------------------------------------------------------------------

  function showError(error) {
    state.error = error ? { code: error.code, message: error.message, status: error.status } : null;
    const box = $("error");
    box.hidden = !error;
    box.textContent = error ? `${error.code}: ${error.message}` : "";
  }

  function showWarnings(warnings) {
    state.warnings = warnings.slice();
    const list = $("warnings");
    list.replaceChildren(
      ...warnings.map((w) => {
        const item = document.createElement("li");
        item.textContent = `${w.code}: ${w.message}`;
        item.dataset.code = w.code;
        return item;
      }),
    );
    list.hidden = warnings.length === 0;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function row(...cells) {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }

  // ---- providers -------------------------------------------------------------------------------

  async function loadProviders() {
    try {
      const data = await api("/api/providers");
      state.providers = data.providers;
    } catch (error) {
      state.providers = [];
      showError(error);
      return;
    }
    $("providers").replaceChildren(
      ...state.providers.map((p) =>
        row(
          cell(`${p.name} (${p.slug}) ${p.version || ""}`),
          cell(p.status + (p.circuit && p.circuit !== "closed" ? ` · circuit ${p.circuit}` : ""), `status-${String(p.status).toLowerCase()}`),
          cell(p.intervals.join(" ")),
          cell(p.symbolPatterns.join(" ") || "any"),
          cell(p.latencyMs === null || p.latencyMs === undefined ? "" : `${Math.round(p.latencyMs)} ms`),
          cell(p.uptime === null || p.uptime === undefined ? "" : `${(100 * p.uptime).toFixed(1)} %`),
          cell(p.restarts),
          cell(p.lastError || ""),
        ),
      ),
    );
    const select = $("provider");
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    for (const p of state.providers) {
      const option = document.createElement("option");
      option.value = p.slug;
      option.textContent = p.slug;
      select.append(option);
    }
    select.value = state.providers.some((p) => p.slug === chosen) ? chosen : "";
  }

  // ---- symbol search: the catalogue (GET /api/symbols), as the user types -----------------

  const SEARCH_LIMIT = 10;
  let searchTimer = null;
  let searchSeq = 0;

  // The symbol field's text (prefix or substring of a symbol, or of its name), of the chosen type,
  // among the chosen provider's symbols (automatic: every provider's). A type alone lists its
  // symbols; nothing typed nor chosen searches nothing.
  async function searchSymbols(text) {
    const q = (text === undefined ? $("symbol").value : text).trim();
    const type = $("symbol-type").value;
    const provider = $("provider").value;
    const seq = ++searchSeq;
    let found = { query: q, type, provider, total: 0, symbols: [], error: null };
    if (q || type) {
      try {
        const page = await api(`/api/symbols?${query({ q, type, provider, limit: String(SEARCH_LIMIT) })}`);
        found = { ...found, total: page.total, symbols: page.symbols };
      } catch (error) {
        found.error = `${error.code}: ${error.message}`;
      }
    }
    if (seq !== searchSeq) return; // a newer search is on its way
    state.search = found;
    state.searches += 1;
    showMatches();
  }

  function showMatches() {
    const { query: q, type, provider, total, symbols, error } = state.search;
    const list = $("symbol-matches");
    const items = symbols.map((s) => {
      const item = document.createElement("li");
      const pick = document.createElement("button");
      pick.type = "button";
      pick.className = "match";
      pick.dataset.symbol = s.symbol;
      pick.textContent = s.symbol;
      pick.addEventListener("click", () => choose(s.symbol));
      const about = document.createElement("span");
      about.className = "muted";
      about.textContent = ` ${s.name || ""}${s.type ? ` · ${s.type}` : ""} · ${s.providers.join(", ")}`;
      item.append(pick, about);
      return item;
    });
    if (error) items.push(Object.assign(document.createElement("li"), { textContent: error }));
    else if ((q || type) && !symbols.length) {
      const what = [q, type && `type ${type}`, provider && `provider ${provider}`].filter(Boolean).join(", ");
      items.push(Object.assign(document.createElement("li"), { textContent: `no symbol in the catalogue matches ${what}` }));
    }
    else if (total > symbols.length) items.push(Object.assign(document.createElement("li"), { className: "muted", textContent: `${total - symbols.length} more: keep typing` }));
    list.replaceChildren(...items);
    list.hidden = items.length === 0;
  }

  function choose(symbol) {
    $("symbol").value = symbol;
    state.search = { query: "", type: "", provider: "", total: 0, symbols: [], error: null };
    showMatches();
    $("symbol").focus();
  }

  function onSymbolInput() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => searchSymbols(), 250);
  }

  // ---- discovery: which providers serve a symbol, and why ---------------------------------

  async function discover() {
    const symbol = $("symbol").value.trim();
    const interval = $("interval").value;
    showError(null);
    try {
      state.discovery = await api(`/api/symbols/${encodeURIComponent(symbol)}/providers?${query({ interval })}`);
    } catch (error) {
      state.discovery = null;
      $("discovery").hidden = true;
      showError(error);
      return;
    }
    const d = state.discovery;
    $("discovery-symbol").textContent = `${d.symbol} (${d.interval})`;
    $("discovery-candidates").replaceChildren(
      ...d.candidates.map((c) =>
        row(
          cell(c.rank),
          cell(c.slug + (c.derivedFrom ? ` (from ${c.derivedFrom} bars)` : "")),
          cell(c.reasons.join("; ")),
          cell(c.latestStored || "nothing stored"),
        ),
      ),
    );
    $("discovery-excluded").replaceChildren(
      ...(d.excluded.length ? d.excluded.map((e) => row(cell(e.slug), cell(e.reason))) : [row(cell("none"), cell(""))]),
    );
    $("discovery").hidden = false;
  }

  // ---- the chart ---------------------------------------------------------------------------

  const UP = "#12a150";
  const DOWN = "#d92d20";
  let chart = null;
  let candleSeries = null;
  let volumeSeries = null;

  function makeChart() {
    const LWC = window.LightweightCharts;
    chart = LWC.createChart($("chart"), {
      autoSize: true,
      // The logo would add an inline <style>, which the page's Content-Security-Policy refuses;
      // the attribution is in the page's footer instead.
      layout: { attributionLogo: false },
      timeScale: { timeVisible: true, secondsVisible: false },
      handleScroll: true,
      handleScale: true,
    });
    candleSeries = chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
    });
    candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    volumeSeries = chart.addSeries(LWC.HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "volume",
      lastValueVisible: false,
      priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  }

  const seconds = (timestamp) => Math.floor(Date.parse(timestamp) / 1000);

  function candleOf(bar) {
    return { time: seconds(bar.timestamp), open: bar.open, high: bar.high, low: bar.low, close: bar.close };
  }

  function volumeOf(bar) {
    return {
      time: seconds(bar.timestamp),
      value: bar.volume,
      color: bar.close >= bar.open ? "rgba(18,161,80,0.45)" : "rgba(217,45,32,0.45)",
    };
  }

  function countDrawn() {
    const candles = candleSeries.data();
    state.candles = candles.length;
    state.volumes = volumeSeries.data().length;
    state.first = candles.length ? new Date(candles[0].time * 1000).toISOString() : null;
    state.last = candles.length ? new Date(candles[candles.length - 1].time * 1000).toISOString() : null;
  }

  function chartRequest() {
    const symbol = $("symbol").value.trim();
    const interval = $("interval").value;
    const start = $("start").value;
    const end = $("end").value;
    const provider = $("provider").value;
    const route = provider
      ? `/api/providers/${encodeURIComponent(provider)}/data/${encodeURIComponent(symbol)}`
      : `/api/data/${encodeURIComponent(symbol)}`;
    const params = start ? { interval, start, end } : { interval, end, limit: "500" };
    return { symbol, interval, start, end, provider, url: `${route}?${query(params)}` };
  }

  async function loadChart() {
    const request = chartRequest();
    state.request = request;
    state.loading = true;
    $("status").textContent = `loading ${request.symbol} ${request.interval}…`;
    showError(null);
    try {
      const data = await api(request.url);
      if (state.request !== request) return; // a newer load took over
      candleSeries.setData(data.data.map(candleOf));
      volumeSeries.setData(data.data.map(volumeOf));
      chart.timeScale().fitContent();
      state.provider = data.provider;
      countDrawn();
      showWarnings(data.warnings || []);
      $("status").textContent = `${data.count} ${data.interval} bars of ${data.symbol} from ${data.provider}, ${state.first} to ${state.last}`;
      subscribeLive();
    } catch (error) {
      if (state.request !== request) return;
      candleSeries.setData([]);
      volumeSeries.setData([]);
      state.provider = null;
      countDrawn();
      showWarnings([]);
      showError(error);
      $("status").textContent = "";
    } finally {
      if (state.request === request) {
        state.loading = false;
        state.loads += 1;
      }
    }
  }

  // ---- live updates over the WebSocket ---------------------------------------------------------

  let socket = null;
  let authPending = false;

  function streamUrl() {
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/stream`;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function subscribeLive() {
    const wanted = $("live").checked && state.request && !state.error
      ? { symbol: state.request.symbol, interval: state.request.interval }
      : null;
    const current = state.live.subscribed;
    if (current && (!wanted || current.symbol !== wanted.symbol || current.interval !== wanted.interval)) {
      send({ action: "unsubscribe", ...current });
      state.live.subscribed = null;
    }
    if (!wanted) return;
    if (!socket) {
      openSocket();
      return; // subscribes when open
    }
    if (socket.readyState === WebSocket.OPEN && !state.live.subscribed) {
      send({ action: "subscribe", ...wanted });
      state.live.subscribed = wanted;
    }
  }

  function openSocket() {
    socket = new WebSocket(streamUrl());
    socket.addEventListener("open", () => {
      state.live.connected = true;
      const key = apiKey();
      if (key) {
        // Browsers cannot set a header on a WebSocket: the key goes in the first message.
        authPending = true;
        send({ type: "auth", key });
      }
      subscribeLive();
    });
    socket.addEventListener("message", (event) => onStreamMessage(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      state.live.connected = false;
      state.live.subscribed = null;
      socket = null;
      if ($("live").checked) {
        $("status").textContent = "live updates: the stream closed; untick and tick 'live updates' to reconnect";
      }
    });
  }

  function onStreamMessage(message) {
    const wasAuthPending = authPending;
    authPending = false;
    switch (message.type) {
      case "auth":
        return;
      case "bar": {
        const subscribed = state.live.subscribed;
        if (!subscribed || message.symbol !== subscribed.symbol.toUpperCase() || message.interval !== subscribed.interval) return;
        const candle = candleOf(message);
        const drawn = candleSeries.data();
        if (drawn.length && candle.time < drawn[drawn.length - 1].time) return; // older than the chart
        candleSeries.update(candle);
        volumeSeries.update(volumeOf(message));
        state.live.bars += 1;
        state.live.lastBar = message;
        countDrawn();
        return;
      }
      case "warning":
        showWarnings([...state.warnings, message]);
        return;
      case "error":
        // A server without authentication takes the auth message for a bad control: harmless.
        if (wasAuthPending && message.code === "INVALID_REQUEST") return;
        showError({ code: message.code, message: `live updates: ${message.message}`, status: 0 });
        return;
      default:
        return; // acks
    }
  }

  // ---- wiring ------------------------------------------------------------------------------

  function isoDate(date) {
    return date.toISOString().slice(0, 10);
  }

  function setUp() {
    const today = new Date();
    $("end").value = isoDate(today);
    $("start").value = isoDate(new Date(today.getTime() - 180 * 86400 * 1000));
    const params = new URLSearchParams(location.search);
    for (const name of ["symbol", "interval", "start", "end", "provider"]) {
      if (params.has(name)) $(name).value = params.get(name);
    }
    makeChart();
    showKeyStatus();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      showKeyStatus();
      if (socket) socket.close();
      loadProviders();
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyStatus();
      if (socket) socket.close();
    });
    $("query-form").addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(searchTimer);
      searchSeq += 1; // a pending search no longer shows
      $("symbol-matches").hidden = true;
      loadChart();
    });
    $("discover").addEventListener("click", discover);
    $("symbol").addEventListener("input", onSymbolInput);
    // a new type or provider searches again what the field holds
    $("symbol-type").addEventListener("change", onSymbolInput);
    $("provider").addEventListener("change", () => {
      if ($("symbol").value.trim() || $("symbol-type").value) onSymbolInput();
    });
    $("providers-refresh").addEventListener("click", loadProviders);
    $("live").addEventListener("change", () => {
      if (!$("live").checked && socket) socket.close();
      else subscribeLive();
    });
    timebase.load = loadChart;
    timebase.discover = discover;
    timebase.searchSymbols = searchSymbols;
    timebase.loadProviders = loadProviders;
    loadProviders().then(() => {
      if (params.has("provider")) $("provider").value = params.get("provider");
      state.ready = true;
      if (params.has("symbol")) loadChart();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
