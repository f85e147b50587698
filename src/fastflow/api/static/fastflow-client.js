/*
 * fastflow-client.js — follow a fastflow run live from a browser. No dependencies.
 *
 * Two classes:
 *
 * BuildLogStream(buildId, token, options) — the live build protocol: one `log` callback per
 * line with its text, `status` ({status, progress}), `error` ({error}), `complete`
 * ({success, artifacts}). Reconnects by itself and resumes after the last seq it handled; stops
 * after `complete`.
 *
 *   const stream = new BuildLogStream(buildId, token);
 *   stream.on("log", (text) => console.log(text));
 *   stream.on("status", ({ status, progress }) => console.log(`${status}: ${progress}%`));
 *   stream.on("complete", ({ success, artifacts }) => console.log(success, artifacts));
 *   stream.connect();           // … later: stream.disconnect();
 *
 * FastflowRunStream(runId, options) — every event with its seq, over WebSocket or SSE:
 *
 *   const stream = new FastflowRunStream(runId, { token, baseUrl: "", transport: "websocket" });
 *   stream.on("log", (line) => console.log(line.seq, line.line))
 *         .on("status", (s) => console.log(s.status, s.progress))
 *         .on("complete", (c) => console.log("exit", c.exit_code));
 *   stream.connect();           // … later: stream.disconnect();
 *
 * Every event carries `seq`. On a dropped connection the client reconnects after the last seq
 * it handled, and drops anything it has already seen, so each line arrives exactly once and in
 * order. Lines the server skipped for its rate limit (`gap` events) are fetched over REST and
 * delivered in place (`fillGaps: false` hands you the `gap` event instead).
 *
 * Events: connected, log (one per line), status, metrics, error, complete, gap, reconnecting,
 * close ({code, reason}: the server ended the stream for good), end (after complete).
 *
 * Both talk to the server this script was loaded from, unless `options.baseUrl` names another.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else {
    root.FastflowRunStream = api.FastflowRunStream;
    root.BuildLogStream = api.BuildLogStream;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // Close codes after which reconnecting cannot help (see docs/events.md).
  const FINAL_CODES = new Set([1000, 4401, 4403, 4404, 4422]);

  // The origin of the server that served this script: a page on another origin (a separate
  // frontend) that loads it with <script src="https://fastflow…/static/fastflow-client.js">
  // talks to that server without being told.
  const SCRIPT_ORIGIN = (() => {
    try {
      const src = typeof document !== "undefined" && document.currentScript && document.currentScript.src;
      return src ? new URL(src).origin : "";
    } catch (err) {
      return "";
    }
  })();

  function pageOrigin() {
    return typeof window !== "undefined" && window.location ? window.location.origin : "";
  }

  // Handlers by event type, shared by both streams.
  class Emitter {
    constructor() {
      this._handlers = {};
    }

    on(type, handler) {
      (this._handlers[type] = this._handlers[type] || []).push(handler);
      return this;
    }

    off(type, handler) {
      this._handlers[type] = (this._handlers[type] || []).filter((h) => h !== handler);
      return this;
    }

    _emit(type, ...args) {
      for (const handler of this._handlers[type] || []) {
        try {
          handler(...args);
        } catch (err) {
          setTimeout(() => { throw err; });  // a handler's bug must not stop the stream
        }
      }
    }
  }

  class FastflowRunStream extends Emitter {
    constructor(runId, options = {}) {
      super();
      this.runId = runId;
      this.token = options.token || null;
      this.baseUrl = (options.baseUrl || SCRIPT_ORIGIN).replace(/\/$/, "");
      this.transport = options.transport === "sse" ? "sse" : "websocket";
      this.fillGaps = options.fillGaps !== false;
      this.reconnectDelay = options.reconnectDelay || 500;
      this.maxReconnectDelay = options.maxReconnectDelay || 10000;
      this.maxFailures = options.maxFailures || 20;
      this.lastSeq = options.since || 0;
      this.done = false;
      this._queue = Promise.resolve();
      this._conn = null;
      this._failures = 0;
      this._timer = null;
    }

    connect() {
      this._stopped = false;
      if (this.transport === "sse") this._openSse();
      else this._openWebSocket();
      return this;
    }

    disconnect() {
      this._stopped = true;
      clearTimeout(this._timer);
      if (this._conn) this._conn.close();
      this._conn = null;
    }


    _url(path, params) {
      const query = new URLSearchParams(params);
      if (this.token) query.set("token", this.token);
      return `${this.baseUrl}${path}?${query}`;
    }

    _openWebSocket() {
      let base = this.baseUrl || pageOrigin();
      base = base.replace(/^http/, "ws");
      // Batched lines (several per message): the live build protocol sends one per message.
      const query = new URLSearchParams({ since: String(this.lastSeq), batch: "1" });
      if (this.token) query.set("token", this.token);
      const ws = new WebSocket(`${base}/ws/runs/${encodeURIComponent(this.runId)}?${query}`);
      this._conn = ws;
      ws.onmessage = (msg) => {
        this._failures = 0;
        this._enqueue(JSON.parse(msg.data));
      };
      ws.onclose = (ev) => {
        if (this._conn !== ws) return;
        this._conn = null;
        if (this.done || this._stopped) return;
        if (FINAL_CODES.has(ev.code) || (ev.code === 1008 && !/too slow/.test(ev.reason))) {
          // Let queued messages (e.g. `complete`) be handled before reporting the end.
          this._queue = this._queue.then(() => {
            if (!this.done) this._emit("close", { code: ev.code, reason: ev.reason });
          });
          return;
        }
        this._retry();
      };
    }

    _openSse() {
      const path = `/api/runs/${encodeURIComponent(this.runId)}/events`;
      const es = new EventSource(this._url(path, { since: String(this.lastSeq) }));
      this._conn = es;
      const types = ["connected", "log", "status", "metrics", "error", "complete", "gap"];
      for (const type of types) {
        es.addEventListener(type, (msg) => {
          this._failures = 0;
          this._enqueue(JSON.parse(msg.data));
        });
      }
      es.addEventListener("close", (msg) => {
        es.close();
        this._conn = null;
        const info = JSON.parse(msg.data);
        this._queue = this._queue.then(() => this._emit("close", info));
      });
      es.onerror = () => {
        // EventSource would retry from its own Last-Event-ID; we retry from what we handled.
        if (this._conn !== es) return;
        es.close();
        this._conn = null;
        if (!this.done && !this._stopped) this._retry();
      };
    }

    _retry() {
      this._failures += 1;
      if (this._failures > this.maxFailures) {
        this._emit("close", { code: 0, reason: `gave up after ${this.maxFailures} failures` });
        return;
      }
      const delay = Math.min(this.maxReconnectDelay, this.reconnectDelay * 2 ** (this._failures - 1));
      this._emit("reconnecting", { attempt: this._failures, delay, since: this.lastSeq });
      // Reconnect once everything received so far is handled, so `lastSeq` is current.
      this._timer = setTimeout(() => {
        this._queue.then(() => { if (!this._stopped && !this.done) this.connect(); });
      }, delay);
    }

    _enqueue(message) {
      this._queue = this._queue.then(() => this._handle(message)).catch((err) => {
        this._emit("error", { error: String(err), client: true });
      });
    }

    async _handle(message) {
      if (this.done) return;
      switch (message.type) {
        case "connected":
          this._emit("connected", message);
          return;
        case "ping":
        case "pong":
          return;
        case "log":
          for (const line of message.lines) this._deliverLine(line);
          return;
        case "gap":
          if (message.to_seq <= this.lastSeq) return;
          if (!this.fillGaps) {
            this._emit("gap", message);
            this.lastSeq = message.to_seq;
            return;
          }
          await this._fill(message);
          return;
        default:
          if (message.seq <= this.lastSeq) return;
          this.lastSeq = message.seq;
          this._emit(message.type, message);
          if (message.type === "complete") {
            this.done = true;
            this.disconnect();
            this._emit("end", message);
          }
      }
    }

    _deliverLine(line) {
      if (line.seq <= this.lastSeq) return;  // seen before a reconnect
      this.lastSeq = line.seq;
      this._emit("log", line);
    }

    async _fill(gap) {
      // The logs route answers at most 100,000 lines per request: page through the range.
      const path = `/api/runs/${encodeURIComponent(this.runId)}/logs`;
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      let from = Math.max(gap.from_seq, this.lastSeq + 1);
      while (from <= gap.to_seq) {
        const url = `${this.baseUrl}${path}?from_seq=${from}&to_seq=${gap.to_seq}&format=json`;
        const response = await fetch(url, { headers });
        if (!response.ok) throw new Error(`fetching lines ${from}-${gap.to_seq}: ${response.status}`);
        const rows = (await response.text()).split("\n").filter((row) => row);
        if (rows.length === 0) break;
        for (const row of rows) this._deliverLine(JSON.parse(row));
        from = this.lastSeq + 1;
      }
      this.lastSeq = Math.max(this.lastSeq, gap.to_seq);
    }
  }

  /*
   * The live build protocol over `/ws/build/{buildId}`: one message per log line.
   *
   *   new BuildLogStream(buildId, token, { baseUrl, since, fillGaps, reconnectDelay })
   *
   * on("log", (text, line) => …)            each line once, in order (line: {seq, stream, timestamp})
   * on("status", ({ status, progress }) => …) RUNNING with progress, then SUCCESS or FAILED
   * on("error", ({ error }) => …)           the build's error; also a refused connection
   * on("complete", ({ success, artifacts }) => …)  the end: the stream closes for good
   * also: connected, metrics, gap (fillGaps: false), reconnecting, close ({code, reason})
   */
  class BuildLogStream extends Emitter {
    constructor(buildId, token, options = {}) {
      super();
      if (token !== null && typeof token === "object") {
        options = token;
        token = options.token;
      }
      this.buildId = buildId;
      this.token = token || null;
      this.baseUrl = (options.baseUrl || SCRIPT_ORIGIN).replace(/\/$/, "");
      this.fillGaps = options.fillGaps !== false;
      this.reconnectDelay = options.reconnectDelay || 500;
      this.maxReconnectDelay = options.maxReconnectDelay || 10000;
      this.maxFailures = options.maxFailures || 20;
      this.lastSeq = options.since || 0;
      this.status = "CONNECTING";
      this.progress = 0;
      this.done = false;
      this._queue = Promise.resolve();
      this._ws = null;
      this._failures = 0;
      this._timer = null;
      this._stopped = false;
      this._finalStatusSeq = 0;
    }

    connect() {
      this._stopped = false;
      if (this.done || this._ws) return this;
      const base = (this.baseUrl || pageOrigin()).replace(/^http/, "ws");
      const query = new URLSearchParams({ since: String(this.lastSeq) });
      if (this.token) query.set("token", this.token);
      const ws = new WebSocket(`${base}/ws/build/${encodeURIComponent(this.buildId)}?${query}`);
      this._ws = ws;
      ws.onmessage = (msg) => {
        this._failures = 0;
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch (err) {
          return;  // not ours to understand
        }
        this._queue = this._queue.then(() => {
          if (!ws._broken) return this._handle(data);
        }).catch((err) => {
          // Lines could not be filled in: drop what follows on this connection and resume
          // from the last line handled, so nothing is skipped.
          ws._broken = true;
          this._emit("error", { error: String(err), client: true });
          ws.close(4000, "client could not fill a gap");
        });
      };
      ws.onclose = (ev) => {
        if (this._ws !== ws) return;
        this._ws = null;
        // Decide once every message received before the close is handled.
        this._queue = this._queue.then(() => {
          if (this.done || this._stopped) return;
          const refused = !ws._broken && ev.code !== 1000 && FINAL_CODES.has(ev.code);
          if (refused || (ev.code === 1008 && /too many/.test(ev.reason))) {
            this._emit("error", { error: ev.reason || `connection refused (${ev.code})`, code: ev.code });
            this._emit("close", { code: ev.code, reason: ev.reason });
            return;
          }
          this._retry();
        });
      };
      return this;
    }

    disconnect() {
      this._stopped = true;
      clearTimeout(this._timer);
      const ws = this._ws;
      this._ws = null;
      if (ws) ws.close(1000);
    }


    _retry() {
      this._failures += 1;
      if (this._failures > this.maxFailures) {
        const reason = `gave up after ${this.maxFailures} failed connections`;
        this._emit("error", { error: reason, code: 0 });
        this._emit("close", { code: 0, reason });
        return;
      }
      const delay = Math.min(this.maxReconnectDelay, this.reconnectDelay * 2 ** (this._failures - 1));
      this._emit("reconnecting", { attempt: this._failures, delay, since: this.lastSeq });
      this._timer = setTimeout(() => { if (!this._stopped && !this.done) this.connect(); }, delay);
    }

    async _handle(message) {
      if (this.done) return;
      const seq = message.seq;
      switch (message.type) {
        case "connected":
          this._emit("connected", message);
          return;
        case "ping":
        case "pong":
          return;
        case "log":
          this._line(message);
          return;
        case "gap":
          if (message.to_seq <= this.lastSeq) return;
          if (!this.fillGaps) {
            this.lastSeq = message.to_seq;
            this._emit("gap", message);
            return;
          }
          await this._fill(message);
          return;
        case "status":
          if (message.final) {
            // Shares its seq with the `complete` that follows: said once, seq not advanced.
            if (seq <= this.lastSeq || seq <= this._finalStatusSeq) return;
            this._finalStatusSeq = seq;
          } else {
            if (seq <= this.lastSeq) return;
            this.lastSeq = seq;
          }
          this.status = message.status;
          this.progress = message.progress ?? this.progress;
          this._emit("status", message);
          return;
        default:
          if (typeof seq === "number") {
            if (seq <= this.lastSeq) return;
            this.lastSeq = seq;
          }
          if (message.type === "complete") {
            this.done = true;
            this._emit("complete", message);
            this.disconnect();
            return;
          }
          this._emit(message.type, message);
      }
    }

    _line(line) {
      if (line.seq <= this.lastSeq) return;  // seen before a reconnect
      this.lastSeq = line.seq;
      this._emit("log", line.text, line);
    }

    async _fill(gap) {
      // Lines over the server's rate limit, fetched over REST (at most 100,000 per request).
      const base = this.baseUrl || pageOrigin();
      const path = `/api/runs/${encodeURIComponent(this.buildId)}/logs`;
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      let from = Math.max(gap.from_seq, this.lastSeq + 1);
      while (from <= gap.to_seq) {
        const url = `${base}${path}?from_seq=${from}&to_seq=${gap.to_seq}&format=array`;
        const lines = await this._fetchLines(url, headers);
        if (lines.length === 0) break;
        for (const line of lines) this._line(line);
        from = this.lastSeq + 1;
      }
      this.lastSeq = Math.max(this.lastSeq, gap.to_seq);
    }

    async _fetchLines(url, headers) {
      // A dropped connection is retried (with backoff): the lines must not be skipped.
      for (let attempt = 0; ; attempt++) {
        let response;
        try {
          response = await fetch(url, { headers });
        } catch (err) {
          if (attempt >= 5) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
          continue;
        }
        if (!response.ok) throw new Error(`fetching ${url}: ${response.status}`);
        return response.json();
      }
    }
  }

  return { FastflowRunStream, BuildLogStream };
});
