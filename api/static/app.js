// Readout web page: submit an article, follow its progress, listen while it is synthesized.
//
// Progress comes from the job's server-sent events, read with fetch() so the API key can go
// in an Authorization header. The <audio> element cannot send headers: it plays the signed
// audio_url of the job's status (no key in any URL).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "readout.apiKey";
const TERMINAL = ["done", "failed", "cancelled"];
const FORMATS = { txt: "text", text: "text", md: "markdown", markdown: "markdown", html: "html", htm: "html" };

const state = {
  engines: [],
  apiKey: "",
  job: null,
  abort: null,
  submittedAt: 0,
  heardAt: null,
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

function seconds(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
}

function clock(value) {
  if (!Number.isFinite(value)) return "–";
  const m = Math.floor(value / 60);
  const s = Math.round(value % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- engines, voices, article --------------------------------------------------------------

async function loadEngines() {
  const resp = await fetch("/v1/engines", { headers: authHeaders() });  // with keys on, this needs one too
  if (!resp.ok) {
    showMessage(await errorText(resp), true);
    if (resp.status === 401) $("key-box").open = true;
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
    showMessage(`${file.name}: drop a .txt, .md or .html file`, true);
    return;
  }
  $("article").value = await file.text();
  $("format").value = FORMATS[ext];
  $("file-name").textContent = file.name;
  hideMessage();
  updateCount();
}

function setupDrop() {
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
  let reload = null;  // the engine list is fetched again once a new key has been typed
  $("api-key").addEventListener("input", () => {
    sync();
    clearTimeout(reload);
    reload = setTimeout(loadEngines, 300);
  });
  $("remember-key").addEventListener("change", sync);
  sync();
}

// ---- a job ---------------------------------------------------------------------------------

function render(status) {
  const total = status.chunks.total;
  const done = status.chunks.done;
  const pct = total ? Math.round((100 * done) / total) : 0;
  $("progress-fill").style.width = `${pct}%`;
  $("progress").setAttribute("aria-valuenow", String(pct));
  $("progress-pct").textContent = `${pct}%`;
  $("progress-label").textContent = total === null
    ? (status.status === "queued" ? "Waiting for a worker…" : "Splitting the article…")
    : `${done} of ${total} chunk${total === 1 ? "" : "s"} synthesized`;
  $("status").textContent = status.status;
  $("status").dataset.status = status.status;
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

function resetJob() {
  if (state.abort) state.abort.abort();
  state.job = null;
  state.heardAt = null;
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.load();
  $("progress").dataset.state = "running";
  $("download").hidden = true;
  $("stats").hidden = true;
  for (const el of document.querySelectorAll(".stats dd")) el.textContent = "–";
}

// A streamed MP3 has no length up front, so the browser may report an infinite duration.
// Once the job is done the server answers with Content-Length and ranges: reload there,
// keeping the listener's place.
function ensureFiniteDuration(audioUrl) {
  const player = $("player");
  if (Number.isFinite(player.duration) && player.duration > 0) return;
  const at = player.currentTime;
  const playing = !player.paused && !player.ended;
  player.addEventListener("loadedmetadata", () => {
    if (at > 0) player.currentTime = at;
    if (playing) player.play().catch(() => {});
  }, { once: true });
  player.src = audioUrl;
  player.load();
}

function finish(type, status) {
  render(status);
  setBusy(false);
  $("progress").dataset.state = type === "done" ? "done" : "failed";
  showStats(status);
  if (type === "done") {
    $("progress-label").textContent = `All ${status.chunks.total} chunks synthesized`;
    const link = $("download");
    link.href = status.audio_url;
    link.hidden = false;
    ensureFiniteDuration(status.audio_url);
  } else {
    const reason = status.error ? status.error.message : "The job was cancelled.";
    $("progress-label").textContent = reason;
    showMessage(reason, type === "failed");
  }
}

// Server-sent events over fetch: blocks separated by a blank line, `event:` and `data:` lines.
async function readEvents(resp, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
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
      if (data.length && onEvent(type, data.join("\n"))) return;
    }
  }
}

async function follow(job) {
  const ctrl = new AbortController();
  state.abort = ctrl;
  let ended = false;
  const onEvent = (type, data) => {
    const status = JSON.parse(data);
    if (TERMINAL.includes(type)) {
      ended = true;
      finish(type, status);
    } else {
      render(status);
    }
    return ended;
  };
  try {
    const resp = await fetch(job.events_url, {
      headers: { Accept: "text/event-stream", ...authHeaders() },
      signal: ctrl.signal,
    });
    if (!resp.ok) throw new Error(await errorText(resp));
    await readEvents(resp, onEvent);
  } catch (err) {
    if (ctrl.signal.aborted) return;
    console.warn("event stream ended early; polling instead", err);
  }
  // The stream broke before the end (proxy timeout, network): poll the status instead.
  while (!ended && !ctrl.signal.aborted) {
    const resp = await fetch(job.status_url, { headers: authHeaders(), signal: ctrl.signal }).catch(() => null);
    if (resp && resp.ok) {
      const status = await resp.json();
      onEvent(TERMINAL.includes(status.status) ? status.status : "progress", JSON.stringify(status));
    }
    if (!ended) await sleep(1000);
  }
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("submit").textContent = busy ? "Converting…" : "Convert to speech";
  $("cancel").hidden = !busy;
}

async function submit(ev) {
  ev.preventDefault();
  hideMessage();
  const text = $("article").value;
  if (!text.trim()) {
    showMessage("Paste an article or drop a file first.", true);
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
      body: JSON.stringify({ text, format: $("format").value, engine: $("engine").value, voice: $("voice").value }),
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
  const job = await resp.json();
  state.job = job;
  $("job").hidden = false;
  $("job-id").textContent = `job ${job.id}`;
  render({ status: "queued", chunks: { total: null, done: 0 } });
  const player = $("player");
  player.src = job.audio_url; // streams: plays from chunk 0 while the rest is made
  player.play().catch(() => {}); // autoplay may be refused; the controls stay usable
  await follow(job);
}

async function cancel() {
  if (!state.job) return;
  const resp = await fetch(state.job.status_url, { method: "DELETE", headers: authHeaders() });
  if (!resp.ok) showMessage(await errorText(resp), true);
}

function setupPlayer() {
  const player = $("player");
  player.addEventListener("playing", () => {
    if (state.heardAt === null && state.submittedAt) {
      state.heardAt = (performance.now() - state.submittedAt) / 1000;
      $("stat-first-sound").textContent = seconds(state.heardAt);
    }
  });
  player.addEventListener("durationchange", () => {
    $("stat-length").textContent = clock(player.duration);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupKey();
  setupDrop();
  setupPlayer();
  $("article").addEventListener("input", updateCount);
  $("file").addEventListener("change", (ev) => { if (ev.target.files[0]) loadFile(ev.target.files[0]); });
  $("engine").addEventListener("change", fillVoices);
  $("job-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  loadEngines();
});
