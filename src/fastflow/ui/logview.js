// The run page's log viewer: lines arrive in batches from the server (see log_lines.py) and
// are built into the DOM once per animation frame. Text is set with textContent only, never
// as HTML, so a run's output can colour the viewer but never write markup into it.
export default {
  template: `<div class="ff-logview ff-mono" :class="classes" @click="onClick" @scroll.passive="onScroll"
    role="log" aria-live="off" tabindex="0"></div>`,
  props: {
    maxLines: { type: Number, default: 5000 },
    logUrl: { type: String, default: "" },
  },
  data() {
    return { showTs: false, showLn: true, wrap: true, follow: true };
  },
  computed: {
    classes() {
      return { "ff-show-ts": this.showTs, "ff-hide-ln": !this.showLn, "ff-nowrap": !this.wrap };
    },
  },
  mounted() {
    this.queue = [];
    this.stack = []; // the sections still open at the live end: [{el, body, t}]
    this.count = 0; // line elements in the viewer
    this.lastSeq = 0;
    this.stick = true; // the reader is at the bottom
    this.ours = false; // the next scroll event is our own
    this.pending = null; // a line to reveal once it is here
    this.marked = null;
    this.frame = 0;
    this.onHash = () => {
      const m = /^#L(\d+)$/.exec(window.location.hash);
      if (m) this.reveal(parseInt(m[1], 10));
    };
    window.addEventListener("hashchange", this.onHash);
    this.onHash();
  },
  unmounted() {
    window.removeEventListener("hashchange", this.onHash);
    if (this.frame) cancelAnimationFrame(this.frame);
  },
  methods: {
    setOptions(opts) {
      Object.assign(this, opts);
      if (opts.follow) this.stick = true;
      if (this.follow) this.toBottom();
    },
    push(items) {
      for (const it of items) this.queue.push(it);
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    },
    // Build what waits in slices of about 8 ms per animation frame, so the page keeps
    // answering clicks and keys during a burst; "drained" tells the server to send more.
    flush() {
      this.frame = 0;
      const root = this.$el;
      const t0 = performance.now();
      let head = 0;
      while (head < this.queue.length && performance.now() - t0 < 8) {
        const slice = this.queue.slice(head, head + 250);
        head += slice.length;
        this.build(slice, this.stack, root, !root.firstChild);
        for (const it of slice) if (it.n > this.lastSeq) this.lastSeq = it.n;
      }
      this.queue = head < this.queue.length ? this.queue.slice(head) : [];
      this.trim();
      if (this.follow && this.stick) this.toBottom();
      if (this.pending !== null) this.reveal(this.pending);
      if (this.queue.length) this.frame = requestAnimationFrame(() => this.flush());
      else this.$emit("drained");
    },
    // Items into `base` (or the open section on top of `stack`). Lines go in chunks of CHUNK
    // lines that the browser skips laying out while they are off screen (content-visibility).
    build(items, stack, base, topGap) {
      const where = () => (stack.length ? stack[stack.length - 1].body : base);
      for (const it of items) {
        if (it.gap) {
          const c = where();
          c.appendChild(this.gapEl(it.gap[0], it.gap[1], it.k, topGap && c === base));
          c.ffChunk = null;
        } else if (it.open !== undefined) {
          const sec = this.section(it);
          this.put(where(), sec.el, it.n);
          stack.push(sec);
        } else if (it.close) {
          const sec = stack.pop();
          if (sec) this.closeSection(sec, it);
        } else {
          this.put(where(), this.line(it), it.n);
          this.count++;
          if (it.v === "error" || it.v === "critical") for (const sec of stack) sec.el.dataset.err = "1";
        }
        topGap = false;
      }
    },
    put(container, el, n) {
      let chunk = container.ffChunk;
      if (!chunk || chunk.ffLines >= 250 || chunk !== container.lastElementChild) {
        chunk = document.createElement("div");
        chunk.className = "ff-chunk";
        chunk.ffLines = 0;
        chunk.dataset.n = n;
        container.appendChild(chunk);
        container.ffChunk = chunk;
      }
      chunk.appendChild(el);
      chunk.ffLines++;
    },
    line(it) {
      const div = document.createElement("div");
      let cls = "ff-line ff-s-" + it.s;
      if (it.v) cls += " ff-v-" + it.v;
      div.className = cls;
      div.id = "L" + it.n;
      div.dataset.n = it.n;
      const a = document.createElement("a");
      a.className = "ff-ln";
      a.href = "#L" + it.n;
      a.textContent = it.n;
      a.dataset.t = this.clock(it.t);
      div.appendChild(a);
      for (const [text, style] of it.g) {
        if (!style) {
          div.appendChild(document.createTextNode(text));
          continue;
        }
        const span = document.createElement("span");
        span.textContent = text;
        const css = [];
        for (const tok of style.split(" ")) {
          if (tok.startsWith("bg#")) span.style.backgroundColor = tok.slice(2);
          else if (tok.startsWith("#")) span.style.color = tok;
          else css.push("ff-a-" + tok);
        }
        if (css.length) span.className = css.join(" ");
        div.appendChild(span);
      }
      return div;
    },
    section(it) {
      const el = document.createElement("details");
      el.className = "ff-group";
      el.open = true;
      el.dataset.n = it.n;
      el.dataset.testid = "log-group";
      const sum = document.createElement("summary");
      const name = document.createElement("span");
      name.className = "ff-group-name";
      name.textContent = it.open;
      const took = document.createElement("span");
      took.className = "ff-group-time";
      took.textContent = "running…";
      sum.append(name, took);
      const body = document.createElement("div");
      body.className = "ff-group-body";
      el.append(sum, body);
      el.addEventListener("toggle", () => (el.dataset.touched = "1"), { once: true });
      return { el, body, t: it.t, took };
    },
    closeSection(sec, it) {
      sec.took.textContent = this.span((it.t - sec.t) / 1000);
      sec.el.dataset.last = it.n;
      // A finished section folds away, unless it holds an error or the reader opened it.
      if (!sec.el.dataset.err && !sec.el.dataset.touched) {
        sec.el.open = false;
        sec.el.dataset.touched = "";
      }
    },
    gapEl(from, to, count, top) {
      const div = document.createElement("div");
      div.className = "ff-gap" + (top ? " ff-gap-top" : "");
      div.dataset.testid = "log-gap";
      div.dataset.from = from;
      div.dataset.to = to;
      this.gapText(div, count);
      return div;
    },
    gapText(div, count) {
      div.replaceChildren();
      const label = document.createElement("span");
      const what = count ? count.toLocaleString() + " lines" : "earlier lines";
      const from = div.dataset.from, to = div.dataset.to;
      label.textContent = `⋯ ${what} not shown (lines ${from}–${to}) `;
      const load = document.createElement("button");
      load.type = "button";
      load.className = "ff-gap-load";
      load.dataset.testid = "log-load";
      load.textContent = div.classList.contains("ff-gap-top") ? "Load earlier lines" : "Show them";
      const open = document.createElement("a");
      open.href = `${this.logUrl}?from_seq=${from}&to_seq=${to}`;
      open.target = "_blank";
      open.rel = "noopener";
      open.textContent = "as text";
      div.append(label, load, " · ", open);
    },
    onClick(e) {
      const btn = e.target.closest(".ff-gap-load");
      if (btn) {
        const gap = btn.closest(".ff-gap");
        btn.disabled = true;
        this.$emit("load", { from: +gap.dataset.from, to: +gap.dataset.to, around: 0 });
      }
    },
    // Lines for a gap (see LogView.fill): they replace it, with what remains as gaps around.
    fill(from, items, before, after) {
      const gap = this.$el.querySelector(`.ff-gap[data-from="${from}"]`);
      if (!gap) return;
      const frag = document.createDocumentFragment();
      const top = gap.classList.contains("ff-gap-top");
      if (before) frag.appendChild(this.gapEl(before[0], before[1], before[2], top));
      this.build(items, [], frag, false);
      if (after) frag.appendChild(this.gapEl(after[0], after[1], after[2], false));
      const height = this.$el.scrollHeight;
      gap.replaceWith(frag);
      // Loading earlier lines keeps what the reader was looking at in place.
      if (top && this.pending === null) this.$el.scrollTop += this.$el.scrollHeight - height;
      if (this.pending !== null) this.reveal(this.pending);
    },
    // Scroll to line n and mark it; fetch it first when it is inside a gap.
    reveal(n) {
      const el = document.getElementById("L" + n);
      if (el && this.$el.contains(el)) {
        this.pending = null;
        for (let p = el.parentElement; p && p !== this.$el; p = p.parentElement) {
          if (p.tagName === "DETAILS") p.open = true;
        }
        if (this.marked) this.marked.classList.remove("ff-marked");
        el.classList.add("ff-marked");
        this.marked = el;
        this.stick = false;
        this.ours = true;
        el.scrollIntoView({ block: "center" });
        return;
      }
      this.pending = n;
      for (const gap of this.$el.querySelectorAll(".ff-gap")) {
        if (+gap.dataset.from <= n && n <= +gap.dataset.to && !gap.dataset.asked) {
          gap.dataset.asked = "1";
          this.$emit("load", { from: +gap.dataset.from, to: +gap.dataset.to, around: n });
          return;
        }
      }
      // Not here yet (the live end has not reached it): revealed when it arrives.
      if (this.lastSeq && n <= this.lastSeq) this.pending = null;
    },
    // Keep the viewer bounded: the oldest lines go into a gap at the top ("load earlier").
    trim() {
      if (this.count <= this.maxLines * (this.follow && this.stick ? 1 : 3)) return;
      let container = this.$el;
      const touched = new Set(); // gaps whose text is redone once at the end
      while (this.count > this.maxLines) {
        let first = container.firstElementChild;
        let lead = null;
        if (first && first.classList.contains("ff-gap")) {
          lead = first;
          first = first.nextElementSibling;
        }
        if (!first) break;
        const open = this.stack.find((s) => first === s.el || first.contains(s.el));
        if (open) {
          // A section still printing holds the oldest lines: trim inside it.
          container = open.el === first ? open.body : first;
          continue;
        }
        let last = +(first.dataset.to || first.dataset.last || first.dataset.n);
        const marked = first.querySelectorAll("[data-n]");
        if (marked.length) last = Math.max(last, +marked[marked.length - 1].dataset.n);
        for (const g of first.querySelectorAll("[data-last]")) last = Math.max(last, +g.dataset.last);
        if (!lead) {
          const start = +(first.dataset.from || first.dataset.n);
          lead = this.gapEl(start, last, null, container === this.$el);
          container.prepend(lead);
        }
        this.count -= first.classList.contains("ff-line")
          ? 1
          : first.querySelectorAll(".ff-line").length;
        first.remove();
        lead.dataset.to = last;
        lead.dataset.asked = "";
        touched.add(lead);
      }
      for (const gap of touched) this.gapText(gap, null);
    },
    onScroll() {
      if (this.ours) {
        this.ours = false;
        return;
      }
      const el = this.$el;
      this.stick = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    },
    toBottom() {
      this.ours = true;
      this.$el.scrollTop = this.$el.scrollHeight;
    },
    clock(ms) {
      const d = new Date(ms);
      const p = (v, w = 2) => String(v).padStart(w, "0");
      return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
    },
    span(seconds) {
      if (seconds < 60) return seconds.toFixed(1) + "s";
      const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
      if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
      return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
    },
  },
};
