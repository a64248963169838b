// Readout web page: submit an article (or a URL), follow its progress, listen while it is made.
//
// The job id lives in the page's address (?job=<id>) and in a list of recent jobs
// (localStorage), so a reload or a shared link finds the job again.
//
// Audio goes through Media Source Extensions: the page fetch()es the job's audio_url itself
// and appends the bytes to the <audio> element's buffer. That gives a duration and seeking
// while the job is still streaming, and when the connection drops (network, API restart)
// the page reconnects with backoff and resumes from the bytes it already has: a Range
// request once the job is done, else the stream again with the bytes it has skipped. The
// element never reloads, so position and playback rate are kept. Browsers without MSE play
// the audio_url directly and switch to the finished file at the played position.
//
// The API key only ever goes out as an Authorization header of fetch() calls; URLs the page
// hands to the browser (<audio src>, the download link) are the ones the status JSON gives.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "readout.apiKey";
const RECENT_STORE = "readout.recent";
const RECENT_MAX = 8;
const TERMINAL = ["done", "failed", "cancelled"];
const FORMATS = { txt: "text", text: "text", md: "markdown", markdown: "markdown", html: "html", htm: "html" };
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000]; // then 8 s between tries
const SEEK_MARGIN_S = 0.25; // a seek past the arrived audio lands this far before its end
const KEY_PAUSE_MS = 300; // a typed key is tried once typing pauses this long

const state = {
  engines: [],
  apiKey: "",
  job: null, // {id, status_url, audio_url, events_url}
  status: null, // the latest status JSON
  abort: null, // aborts everything following the current job
  feed: null, // the audio feed of the current job
  submittedAt: 0,
  heardAt: null,
  focusOnPlay: false,
  marks: null,
  announced: null, // the job step last said on the status line
  offline: new Set(), // which connections are down: "audio", "events"
  wake: [], // resolvers of backoff sleeps, woken when the browser is back online
};

// ---- helpers -------------------------------------------------------------------------------

function authHeaders() {
  return state.apiKey ? { Authorization: `Bearer ${state.apiKey}` } : {};
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    return `${body.error.message} (${resp.status} ${body.error.code})`;
  } catch {
    return `The server answered ${resp.status} ${resp.statusText}`;
  }
}

function showMessage(text, isError = false) {
  const el = $("message");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.hidden = false;
}

function hideMessage() {
  $("message").hidden = true;
}

// The one polite live region: said once per real change, never per chunk.
function announce(text) {
  if ($("live").textContent !== text) $("live").textContent = text;
}

function seconds(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
}

function clock(value) {
  if (!Number.isFinite(value)) return "–";
  const total = Math.floor(value); // as the player's own controls count
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// A backoff sleep that ends early on abort or when the browser comes back online.
function pause(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      state.wake = state.wake.filter((w) => w !== done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    state.wake.push(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function backoff(attempt) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return base / 2 + Math.random() * base / 2;
}

function once(target, type) {
  return new Promise((resolve) => target.addEventListener(type, resolve, { once: true }));
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---- engines, voices, article --------------------------------------------------------------

let enginesLoading = null; // one request for the engine list at a time

function loadEngines() {
  enginesLoading ??= fetchEngines().finally(() => { enginesLoading = null; });
  return enginesLoading;
}

async function fetchEngines() {
  const resp = await fetch("/v1/engines", { headers: authHeaders() }).catch(() => null);
  if (!resp || !resp.ok) {
    showMessage(resp ? await errorText(resp) : "Could not reach the server for its engines.", true);
    if (resp && resp.status === 401) $("key-box").open = true;
    return;
  }
  hideMessage();
  state.engines = (await resp.json()).engines.filter((e) => e.available);  // only engines that run here
  const select = $("engine");
  select.replaceChildren(...state.engines.map((e) =>
    new Option(e.default ? `${e.name} (default)` : e.name, e.name, e.default, e.default)));
  fillVoices();
}

function fillVoices() {
  const engine = state.engines.find((e) => e.name === $("engine").value);
  const voices = engine ? engine.voices : [];
  $("voice").replaceChildren(...voices.map((v) => {
    const label = v.name && v.name !== v.id ? `${v.name} · ${v.language}` : `${v.id} · ${v.language}`;
    return new Option(label, v.id, v.id === engine.default_voice, v.id === engine.default_voice);
  }));
}

function updateCount() {
  const n = $("article").value.length;
  $("char-count").textContent = `${n.toLocaleString()} character${n === 1 ? "" : "s"}`;
}

async function loadFile(file) {
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  if (!(ext in FORMATS)) {
    showMessage(`${file.name}: choose a .txt, .md or .html file`, true);
    return;
  }
  $("article").value = await file.text();
  $("format").value = FORMATS[ext];
  $("file-name").textContent = file.name;
  hideMessage();
  updateCount();
}

function setupFiles() {
  const zone = $("dropzone");
  let depth = 0;
  zone.addEventListener("dragenter", (ev) => { ev.preventDefault(); depth += 1; zone.classList.add("dragging"); });
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); ev.dataTransfer.dropEffect = "copy"; });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    const file = ev.dataTransfer.files[0];
    if (file) loadFile(file);
  });
  // A file dropped next to the zone must not replace the page.
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());
  // The input itself is hidden; a real button opens the file chooser, so the keyboard reaches it.
  $("choose-file").addEventListener("click", () => {
    const input = $("file");
    if (input.showPicker) input.showPicker(); else input.click();
  });
  $("file").addEventListener("change", (ev) => { if (ev.target.files[0]) loadFile(ev.target.files[0]); });
}

// ---- API key -------------------------------------------------------------------------------

function setupKey() {
  const stored = localStorage.getItem(KEY_STORE) || "";
  state.apiKey = stored;
  $("api-key").value = stored;
  $("remember-key").checked = Boolean(stored);
  const sync = () => {
    state.apiKey = $("api-key").value.trim();
    if ($("remember-key").checked && state.apiKey) localStorage.setItem(KEY_STORE, state.apiKey);
    else localStorage.removeItem(KEY_STORE);
    $("key-state").textContent = state.apiKey ? "(set)" : "(none)";
  };
  // The engine list needs the key too: load it once one is typed (a pause in typing, or on change).
  let typing = 0;
  const enginesAgain = () => {
    clearTimeout(typing);
    if (!state.engines.length && state.apiKey) loadEngines();
  };
  $("api-key").addEventListener("input", () => {
    sync();
    clearTimeout(typing);
    typing = setTimeout(enginesAgain, KEY_PAUSE_MS);
  });
  $("remember-key").addEventListener("change", sync);
  // A shared link that needed a key: try again once one is typed.
  $("api-key").addEventListener("change", () => {
    enginesAgain();
    const id = jobIdFromAddress();
    if (id && !state.job) openJob(id);
  });
  sync();
}

// ---- the job in the address and the recent list --------------------------------------------

function jobIdFromAddress() {
  const query = new URLSearchParams(location.search).get("job");
  const hash = new URLSearchParams(location.hash.slice(1)).get("job");
  const id = query || hash;
  return id && /^[0-9a-f]{32}$/.test(id) ? id : null;
}

function putJobInAddress(id) {
  const url = new URL(location.href);
  url.searchParams.set("job", id);
  url.hash = "";
  history.replaceState(null, "", url);
}

function recentJobs() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_STORE) || "[]");
    return Array.isArray(list) ? list.filter((j) => j && /^[0-9a-f]{32}$/.test(j.id)) : [];
  } catch {
    return [];
  }
}

function remember(id, label) {
  const list = recentJobs();
  const old = list.find((j) => j.id === id);
  const entry = { id, label: label || old?.label || `Job ${id.slice(0, 8)}`, at: old?.at || Date.now() };
  const next = [entry, ...list.filter((j) => j.id !== id)].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_STORE, JSON.stringify(next));
  renderRecent();
}

function renderRecent() {
  const list = recentJobs();
  $("recent").hidden = list.length === 0;
  $("recent-list").replaceChildren(...list.map((j) => {
    const link = document.createElement("a");
    link.href = `?job=${j.id}`;
    link.textContent = j.label;
    if (state.job && state.job.id === j.id) link.setAttribute("aria-current", "page");
    const when = document.createElement("span");
    when.className = "muted small";
    when.textContent = ` · ${new Date(j.at).toLocaleString()}`;
    const item = document.createElement("li");
    item.append(link, when);
    return item;
  }));
}

function labelFor(text, url) {
  if (url) return url.replace(/^https?:\/\//, "").slice(0, 70);
  const words = text.trim().replace(/\s+/g, " ");
  return words.length > 70 ? `${words.slice(0, 67)}…` : words;
}

// ---- rendering a job -----------------------------------------------------------------------

const STEP_TEXT = {
  queued: "Waiting for a worker…",
  fetching: "Fetching the page…",
  running: "Splitting the article…",
};

function render(status) {
  state.status = status;
  const total = status.chunks.total;
  const done = status.chunks.done;
  const pct = total ? Math.round((100 * done) / total) : 0;
  const label = total === null || total === undefined
    ? (STEP_TEXT[status.status] || status.status)
    : `${done} of ${total} chunk${total === 1 ? "" : "s"} synthesized`;
  $("progress-fill").style.width = `${pct}%`;
  $("progress").setAttribute("aria-valuenow", String(pct));
  $("progress").setAttribute("aria-valuetext", label);
  $("progress-pct").textContent = `${pct}%`;
  $("progress-label").textContent = label;
  showStatusPill();
  if (!TERMINAL.includes(status.status) && status.status !== state.announced) { // once per step, not per chunk
    state.announced = status.status;
    announce(status.status === "queued" ? "Queued." : status.status === "fetching" ? "Fetching the page." : "Converting.");
  }
  updateLength();
}

function showStatusPill() {
  const pill = $("status");
  const shown = state.offline.size && !(state.status && TERMINAL.includes(state.status.status) && !state.feed?.pending)
    ? "reconnecting" : (state.status ? state.status.status : "queued");
  pill.textContent = shown;
  pill.dataset.status = shown;
}

function showStats(status) {
  $("stat-chunks").textContent = status.chunks.total ?? "–";
  $("stat-hits").textContent = status.cache.hits;
  $("stat-misses").textContent = status.cache.misses;
  $("stat-ttfa").textContent = seconds(status.time_to_first_audio_seconds);
  $("stat-chars").textContent = status.characters.toLocaleString();
  $("stat-duration").textContent = seconds(status.duration_seconds);
  $("stats").hidden = false;
}

function finish(status) {
  render(status);
  setBusy(false);
  $("progress").dataset.state = status.status === "done" ? "done" : "failed";
  showStats(status);
  if (status.status === "done") {
    const n = status.chunks.total;
    $("progress-label").textContent = n === 1 ? "The one chunk is synthesized" : `All ${n} chunks synthesized`;
    $("progress").setAttribute("aria-valuetext", "Done");
    const link = $("download");
    link.href = status.audio_url;
    link.hidden = false;
    announce("The recording is complete.");
    state.feed?.onDone?.();
    loadMarks(status);
  } else {
    const reason = status.error ? status.error.message : "The job was cancelled.";
    $("progress-label").textContent = reason;
    announce(status.status === "failed" ? "The job failed." : "The job was cancelled.");
    showMessage(reason, status.status === "failed");
    state.feed?.stop();
    state.offline.clear(); // nothing more to reconnect to
    delete $("job").dataset.connection;
    showStatusPill();
  }
}

// While streaming: estimated from the audio that arrived and the chunks done of the total; then exact.
function updateLength() {
  const feed = state.feed;
  const el = $("length");
  if (!feed) { el.textContent = ""; return; }
  const arrived = feed.arrivedSeconds();
  if (feed.complete) {
    el.textContent = `Length ${clock(arrived)}`;
    $("stat-length").textContent = clock(arrived);
    return;
  }
  const est = feed.estimate();
  const parts = [];
  if (est) parts.push(`Length about ${clock(est)} (estimated)`);
  if (arrived > 0) parts.push(`${clock(arrived)} arrived, seekable`);
  el.textContent = parts.join(" · ");
}

// ---- connection state ----------------------------------------------------------------------

function connectionLost(which, retryMs) {
  const first = !state.offline.size;
  state.offline.add(which);
  showStatusPill();
  $("job").dataset.connection = "lost";
  const wait = Math.max(1, Math.round(retryMs / 1000));
  announce(`Connection lost. Reconnecting${navigator.onLine ? ` (next try in ${wait} s)` : " when you are back online"}…`);
  if (first) console.warn(`${which} connection lost; reconnecting`);
}

function connectionBack(which) {
  if (!state.offline.delete(which)) return;
  if (!state.offline.size) {
    delete $("job").dataset.connection;
    showStatusPill();
    announce("Reconnected.");
  }
}

// ---- server-sent events over fetch (so the key can go in a header) -------------------------

async function readEvents(resp, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += value;
    let match;
    while ((match = /\r\n\r\n|\n\n|\r\r/.exec(buffer)) !== null) {
      const block = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      let type = "message";
      const data = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length && onEvent(type, JSON.parse(data.join("\n")))) return true;
    }
  }
}

// Follows the job until it ends, reconnecting with backoff whenever the stream drops.
async function followEvents(job, signal) {
  let attempt = 0;
  let refreshed = false;
  const onEvent = (type, status) => {
    if (TERMINAL.includes(type) || TERMINAL.includes(status.status)) {
      finish(status);
      return true;
    }
    render(status);
    return false;
  };
  while (!signal.aborted) {
    try {
      const resp = await fetch(job.events_url, { headers: { Accept: "text/event-stream", ...authHeaders() }, signal });
      if (!resp.ok) throw new HttpError(resp.status, await errorText(resp));
      connectionBack("events");
      attempt = 0;
      if (await readEvents(resp, onEvent)) return;
      throw new Error("the event stream ended before the job did");
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof HttpError && err.status < 500 && err.status !== 429) {
        if (!refreshed && await freshUrls(job, signal)) { refreshed = true; continue; }
        showMessage(err.message, true);
        return;
      }
      refreshed = false;
      const wait = backoff(attempt++);
      connectionLost("events", wait);
      await pause(wait, signal);
    }
  }
}

// ---- audio ---------------------------------------------------------------------------------

// Feeds one job's MP3 into the <audio> element through a MediaSource, surviving drops.
class MseFeed {
  constructor(player, job, signal) {
    this.player = player;
    this.job = job;
    this.signal = signal;
    this.received = 0; // bytes appended so far (a resumed request starts after them)
    this.fromFile = false; // whether they are the finished file's (else the live stream's)
    this.complete = false;
    this.pending = true;
    this.source = new MediaSource();
    this.objectUrl = URL.createObjectURL(this.source);
    player.src = this.objectUrl;
    this.ready = once(this.source, "sourceopen").then(() => {
      this.buffer = this.source.addSourceBuffer("audio/mpeg");
    });
  }

  arrivedSeconds() {
    if (this.switched) return this.player.duration || 0;
    const b = this.buffer && this.buffer.buffered;
    return b && b.length ? b.end(b.length - 1) : 0;
  }

  // Length of the whole recording: the arrived audio scaled by chunks done / total.
  estimate() {
    const s = state.status;
    const arrived = this.arrivedSeconds();
    if (!s || !s.chunks.total || !s.chunks.done || !arrived) return null;
    return Math.max(arrived, (arrived * s.chunks.total) / s.chunks.done);
  }

  stop() {
    this.pending = false;
  }

  async append(bytes) {
    for (;;) {
      try {
        this.buffer.appendBuffer(bytes);
        await once(this.buffer, "updateend");
        return;
      } catch (err) {
        if (err.name !== "QuotaExceededError") throw err;
        // The browser's buffer is full: drop what was played long ago, or wait for playback.
        const b = this.buffer.buffered;
        const keepFrom = this.player.currentTime - 30;
        if (b.length && keepFrom > b.start(0) + 1) {
          this.buffer.remove(b.start(0), keepFrom);
          await once(this.buffer, "updateend");
        } else {
          await once(this.player, "timeupdate");
        }
      }
    }
  }

  // Show the estimated length on the element's own controls while more is coming.
  stretch() {
    const est = this.estimate();
    if (est && !this.buffer.updating && this.source.readyState === "open"
        && (!Number.isFinite(this.source.duration) || Math.abs(this.source.duration - est) > 1)
        && est > this.arrivedSeconds()) {
      this.source.duration = est;
    }
  }

  async run() {
    await this.ready;
    let attempt = 0;
    let refreshed = false;
    while (!this.signal.aborted && this.pending) {
      try {
        await this.fetchOnce();
        if (this.complete || !this.pending) return;
        throw new Error("the audio ended before the job did");
      } catch (err) {
        if (this.signal.aborted || !this.pending) return;
        if (err instanceof HttpError && err.status < 500 && err.status !== 429) {
          if (!refreshed && await freshUrls(this.job, this.signal)) { refreshed = true; continue; }
          this.pending = false;
          connectionBack("audio");
          if (err.status !== 409) showMessage(err.message, true); // 409: failed/cancelled, shown by finish()
          return;
        }
        refreshed = false;
        const wait = backoff(attempt++);
        connectionLost("audio", wait);
        await pause(wait, this.signal);
        if (this.received) attempt = Math.min(attempt, 2); // it did stream: retry briskly
      }
    }
  }

  // One request: the rest of the finished file (Range), or the stream again from byte 0.
  // The live stream is each chunk's own MP3 in turn, the finished file one encode of the whole:
  // their bytes differ, so bytes held from the stream continue in the file by time, not by byte.
  async fetchOnce() {
    const headers = authHeaders();
    const done = state.status && state.status.status === "done";
    if (this.received && done && !this.fromFile) return this.toFile();
    if (this.received && done) headers.Range = `bytes=${this.received}-`;
    const resp = await fetch(this.job.audio_url, { headers, signal: this.signal, cache: "no-store" });
    if (resp.status === 416 && this.received) { // nothing left to get
      connectionBack("audio");
      return this.end();
    }
    if (!resp.ok) throw new HttpError(resp.status, await errorText(resp));
    connectionBack("audio");
    const range = /\/(\d+)$/.exec(resp.headers.get("Content-Range") || "");
    const length = resp.headers.get("Content-Length");
    const file = resp.status === 206 || length !== null; // the finished file (the stream has no length)
    if (this.received && file && !this.fromFile) { // the job finished between the drop and now
      resp.body.cancel().catch(() => {});
      return this.toFile();
    }
    this.fromFile = file;
    const total = resp.status === 206 && range ? Number(range[1]) : resp.status === 200 && length ? Number(length) : null;
    let skip = resp.status === 206 ? 0 : this.received; // a 200 starts at byte 0
    const reader = resp.body.getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      let bytes = value;
      if (skip) {
        const drop = Math.min(skip, bytes.length);
        skip -= drop;
        bytes = bytes.subarray(drop);
        if (!bytes.length) continue;
      }
      await this.append(bytes);
      this.received += bytes.length;
      this.arrived();
    }
    // A cleanly ended response: whole if its length says so, or (a live stream) if the job is done.
    if (total !== null ? this.received >= total : await jobIsDone(this.job, this.signal)) this.end();
  }

  arrived() {
    this.stretch();
    updateLength();
    audioStarted();
  }

  // The rest from the finished file at the played position (the element loads it; rate kept).
  toFile() {
    this.switched = true;
    switchToFile(this.player, this.job.audio_url, this.player.currentTime);
    connectionBack("audio");
    this.end();
  }

  end() {
    this.complete = true;
    this.pending = false;
    if (this.source.readyState === "open" && !this.buffer.updating) this.source.endOfStream();
    $("stat-length").textContent = clock(this.arrivedSeconds());
    updateLength();
    showStatusPill();
  }

  // Seeks stay within what has arrived. Audio dropped to make room (a long recording) is
  // played from the finished file once the job is done.
  clampSeek() {
    if (this.switched) return;
    const b = this.buffer && this.buffer.buffered;
    if (!b || !b.length) return;
    const start = b.start(0);
    const end = b.end(b.length - 1);
    const at = this.player.currentTime;
    if (at < start - 0.05) {
      if (this.complete) {
        this.switched = true;
        switchToFile(this.player, this.job.audio_url, at);
      } else {
        this.player.currentTime = start;
      }
    } else if (!this.complete && at > end - SEEK_MARGIN_S) {
      this.player.currentTime = Math.max(start, end - SEEK_MARGIN_S);
    }
  }
}

// Point the player at the finished file at `at`, keeping its rate and whether it was playing.
function switchToFile(player, url, at) {
  const rate = player.playbackRate;
  const playing = !player.paused && !player.ended;
  player.addEventListener("loadedmetadata", () => {
    player.playbackRate = rate;
    player.defaultPlaybackRate = rate;
    if (at > 0) player.currentTime = at;
    if (playing) player.play().catch(() => {});
  }, { once: true });
  player.src = url;
  player.load();
}

// Without MSE: the element plays the audio_url itself; the finished file replaces the stream.
class PlainFeed {
  constructor(player, job, signal) {
    this.player = player;
    this.job = job;
    this.signal = signal;
    this.complete = false;
    this.pending = true;
    this.attempt = 0;
    player.src = job.audio_url;
    player.addEventListener("error", () => this.recover(), { signal });
    player.addEventListener("loadeddata", () => { connectionBack("audio"); audioStarted(); }, { signal });
    player.addEventListener("durationchange", () => updateLength(), { signal });
  }

  arrivedSeconds() {
    const b = this.player.buffered;
    return b.length ? b.end(b.length - 1) : 0;
  }

  estimate() {
    return Number.isFinite(this.player.duration) ? this.player.duration : null;
  }

  stop() {
    this.pending = false;
  }

  async run() {}

  // Load the audio_url again at the played position, keeping the rate and play state.
  reload() {
    switchToFile(this.player, this.job.audio_url, this.player.currentTime);
  }

  async recover() {
    if (this.signal.aborted || !this.pending) return;
    const wait = backoff(this.attempt++);
    connectionLost("audio", wait);
    await pause(wait, this.signal);
    this.reload();
  }

  onDone() {
    this.complete = true;
    if (!Number.isFinite(this.player.duration)) this.reload();
  }

  clampSeek() {}
}

// Signed URLs in the status JSON may expire: after a 401 or 403 take new ones, once.
async function freshUrls(job, signal) {
  const resp = await fetch(job.status_url, { headers: authHeaders(), signal }).catch(() => null);
  if (!resp || !resp.ok) return false;
  const next = jobFromStatus(await resp.json());
  const changed = next.audio_url !== job.audio_url || next.events_url !== job.events_url;
  job.audio_url = next.audio_url;
  job.events_url = next.events_url;
  return changed;
}

async function jobIsDone(job, signal) {
  const resp = await fetch(job.status_url, { headers: authHeaders(), signal });
  if (!resp.ok) throw new HttpError(resp.status, await errorText(resp));
  const status = await resp.json();
  render(status);
  return status.status === "done";
}

// Focus and scroll move to the player once, when the first audio of a job is there.
function audioStarted() {
  if (!state.focusOnPlay) return;
  state.focusOnPlay = false;
  const player = $("player");
  player.scrollIntoView({ block: "center", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
  player.focus({ preventScroll: true });
  player.play().catch(() => {}); // autoplay may be refused; the controls stay usable
  if (state.status?.status !== "done") announce("Audio is ready: it plays while the rest is made.");
}

// ---- captions: transcript and chapters ------------------------------------------------------

async function loadMarks(status) {
  if (!status.marks_url || state.marks) return;
  const resp = await fetch(status.marks_url, { headers: authHeaders() }).catch(() => null);
  if (!resp || !resp.ok) return; // 404: no captions for this job; show nothing
  const marks = await resp.json().catch(() => null);
  if (!marks || !Array.isArray(marks.sentences)) return;
  state.marks = marks;
  renderChapters(marks.chapters || []);
  renderTranscript(marks.sentences);
}

function seekTo(ms) {
  const player = $("player");
  player.currentTime = ms / 1000;
  player.play().catch(() => {});
}

function renderChapters(chapters) {
  $("chapters").hidden = chapters.length === 0;
  $("chapter-list").replaceChildren(...chapters.map((c) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "linkish";
    button.textContent = `${c.title} · ${clock(c.start_ms / 1000)}`;
    button.addEventListener("click", () => seekTo(c.start_ms));
    const item = document.createElement("li");
    item.append(button);
    return item;
  }));
}

// One tab stop for the whole transcript (roving tabindex); arrows move, Enter or Space seeks.
function renderTranscript(sentences) {
  const box = $("sentences");
  box.replaceChildren(...sentences.flatMap((s, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sentence";
    button.tabIndex = i === 0 ? 0 : -1;
    button.dataset.index = String(i);
    button.textContent = s.text;
    button.addEventListener("click", () => seekTo(s.start_ms));
    return i ? [" ", button] : [button];
  }));
  $("transcript").hidden = sentences.length === 0;
}

function setupTranscript() {
  const box = $("sentences");
  box.addEventListener("keydown", (ev) => {
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[ev.key];
    if (!step || !ev.target.classList.contains("sentence")) return;
    ev.preventDefault();
    const next = box.children[Number(ev.target.dataset.index) + step];
    if (next) moveRoving(box, next, true);
  });
}

function moveRoving(box, target, focus) {
  for (const el of box.querySelectorAll(".sentence[tabindex='0']")) el.tabIndex = -1;
  target.tabIndex = 0;
  if (focus) target.focus();
}

function highlightSentence() {
  if (!state.marks) return;
  const ms = $("player").currentTime * 1000;
  const list = state.marks.sentences;
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) { // the last sentence that starts at or before now
    const mid = (lo + hi) >> 1;
    if (list[mid].start_ms <= ms) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  const box = $("sentences");
  const current = box.querySelector(".sentence[aria-current]");
  const next = found >= 0 ? box.children[found] : null;
  if (current === next) return;
  current?.removeAttribute("aria-current");
  if (!next) return;
  next.setAttribute("aria-current", "true");
  if (!box.contains(document.activeElement)) moveRoving(box, next, false);
  const top = next.offsetTop - box.offsetTop;
  if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - next.offsetHeight) {
    box.scrollTop = top - box.clientHeight / 3;
  }
}

// ---- following a job -----------------------------------------------------------------------

function resetJob() {
  if (state.abort) state.abort.abort();
  state.abort = null;
  state.job = null;
  state.status = null;
  state.heardAt = null;
  state.marks = null;
  state.announced = null;
  state.offline.clear();
  if (state.feed && state.feed.objectUrl) URL.revokeObjectURL(state.feed.objectUrl);
  state.feed = null;
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.load();
  $("progress").dataset.state = "running";
  delete $("job").dataset.connection;
  $("download").hidden = true;
  $("stats").hidden = true;
  $("chapters").hidden = true;
  $("transcript").hidden = true;
  $("length").textContent = "";
  for (const el of document.querySelectorAll(".stats dd")) el.textContent = "–";
}

function startJob(job, status) {
  state.job = job;
  const ctrl = new AbortController();
  state.abort = ctrl;
  $("job").hidden = false;
  $("job-id").textContent = `job ${job.id}`;
  putJobInAddress(job.id);
  renderRecent();
  render(status);
  const player = $("player");
  const Feed = "MediaSource" in window && MediaSource.isTypeSupported("audio/mpeg") ? MseFeed : PlainFeed;
  state.feed = new Feed(player, job, ctrl.signal);
  state.feed.run().catch((err) => {
    if (!ctrl.signal.aborted) showMessage(`The audio could not be played: ${err.message}`, true);
  });
  if (TERMINAL.includes(status.status)) finish(status);
  else followEvents(job, ctrl.signal);
}

// The status JSON's links: audio and events are signed (they work without the key until they expire).
function jobFromStatus(status) {
  return { id: status.id, status_url: status.status_url, audio_url: status.audio_url, events_url: status.events_url };
}

// A job named in the address (a reload, a shared link or the recent list).
async function openJob(id) {
  resetJob();
  let resp;
  try {
    resp = await fetch(`/v1/jobs/${id}`, { headers: authHeaders() });
  } catch (err) {
    showMessage(`Could not reach the server: ${err.message}`, true);
    return;
  }
  if (!resp.ok) {
    showMessage(resp.status === 404
      ? "That recording was not found: it may have expired, or it belongs to another API key."
      : await errorText(resp), true);
    if (resp.status === 401) $("key-box").open = true;
    return;
  }
  const status = await resp.json();
  remember(id);
  state.focusOnPlay = true;
  setBusy(!TERMINAL.includes(status.status));
  startJob(jobFromStatus(status), status);
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("submit").textContent = busy ? "Converting…" : "Convert to speech";
  $("cancel").hidden = !busy;
}

function submission() {
  const text = $("article").value;
  const url = $("url").value.trim();
  const options = { engine: $("engine").value, voice: $("voice").value, speed: Number($("speed").value) };
  if (text.trim() && url) return { error: "Use either the article box or the web address, not both." };
  if (url) {
    if (!$("url").checkValidity()) return { error: "The web address must be a full URL, like https://example.com/a." };
    return { body: { url, ...options }, label: labelFor("", url) };
  }
  if (!text.trim()) return { error: "Paste an article, choose a file or give a web address first." };
  return { body: { text, format: $("format").value, ...options }, label: labelFor(text, "") };
}

async function submit(ev) {
  ev.preventDefault();
  hideMessage();
  const { body, label, error } = submission();
  if (error) {
    showMessage(error, true);
    return;
  }
  resetJob();
  setBusy(true);
  state.submittedAt = performance.now();
  let resp;
  try {
    resp = await fetch("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    setBusy(false);
    showMessage(`Could not reach the server: ${err.message}`, true);
    return;
  }
  if (resp.status !== 202) {
    setBusy(false);
    showMessage(await errorText(resp), true);
    if (resp.status === 401) $("key-box").open = true;
    return;
  }
  const created = await resp.json();
  remember(created.id, label);
  state.focusOnPlay = true;
  startJob(jobFromStatus(created), { ...created, chunks: { total: null, done: 0 } });
}

async function cancel() {
  if (!state.job) return;
  // POST .../cancel, never DELETE: a job that finished meanwhile must not be deleted.
  const resp = await fetch(`${state.job.status_url}/cancel`, { method: "POST", headers: authHeaders() })
    .catch(() => null);
  if (!resp) showMessage("Could not reach the server to cancel.", true);
  else if (!resp.ok) showMessage(await errorText(resp), true);
}

async function copyLink() {
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    announce("Link copied.");
  } catch {
    announce(`Link: ${url}`);
  }
}

function setupPlayer() {
  const player = $("player");
  player.addEventListener("playing", () => {
    if (state.heardAt === null && state.submittedAt) {
      state.heardAt = (performance.now() - state.submittedAt) / 1000;
      $("stat-first-sound").textContent = seconds(state.heardAt);
    }
  });
  player.addEventListener("seeking", () => state.feed?.clampSeek());
  player.addEventListener("timeupdate", highlightSentence);
  player.addEventListener("ended", () => announce("End of the recording."));
  player.addEventListener("durationchange", () => {
    if (state.feed && state.feed.complete) updateLength();
  });
}

function setupOnline() {
  window.addEventListener("offline", () => {
    if (state.job && state.feed && (state.feed.pending || !TERMINAL.includes(state.status?.status))) {
      connectionLost("network", 0);
    }
  });
  window.addEventListener("online", () => {
    connectionBack("network");
    for (const wake of state.wake.splice(0)) wake();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupKey();
  setupFiles();
  setupPlayer();
  setupOnline();
  setupTranscript();
  renderRecent();
  $("article").addEventListener("input", updateCount);
  $("engine").addEventListener("change", fillVoices);
  $("job-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("copy-link").addEventListener("click", copyLink);
  $("forget").addEventListener("click", () => {
    localStorage.removeItem(RECENT_STORE);
    renderRecent();
    $("article").focus();
  });
  loadEngines();
  const id = jobIdFromAddress();
  if (id) openJob(id);
});
