// s2st_kit browser audio: microphone capture and speech playback for BrowserMicrophone /
// BrowserSpeaker (s2st_kit/notebook/browser_audio.py). One ESM for both widgets; `kind`
// says which. Capture and playback live once per model (not per view), so displaying a
// widget twice never records or plays twice; views only show state and controls.

// AudioWorklet: float frames → 16-bit PCM chunks of `chunkFrames`, posted with their RMS and
// the context time just after their last sample. Loaded from a Blob URL (no extra file).
const WORKLET = `
class S2stPcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.chunkFrames;
    this.buf = new Int16Array(this.size);
    this.n = 0;
    this.sum = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const ch = input[0];
    for (let i = 0; i < ch.length; i++) {
      const s = Math.max(-1, Math.min(1, ch[i]));
      this.sum += s * s;
      this.buf[this.n++] = Math.round(s < 0 ? s * 32768 : s * 32767);
      if (this.n === this.size) {
        this.port.postMessage(
          { pcm: this.buf.buffer, rms: Math.sqrt(this.sum / this.size),
            end: currentTime + (i + 1) / sampleRate },
          [this.buf.buffer]);
        this.buf = new Int16Array(this.size);
        this.n = 0;
        this.sum = 0;
      }
    }
    return true;
  }
}
registerProcessor("s2st-pcm-capture", S2stPcmCapture);
`;

const REGISTRY = (globalThis.__s2stAudio ??= new Map());
const nowMs = () => performance.timeOrigin + performance.now();

function engineFor(model) {
  const uid = model.get("uid");
  let e = REGISTRY.get(uid);
  if (!e) {
    e = model.get("kind") === "speaker" ? new Speaker(model) : new Microphone(model);
    REGISTRY.set(uid, e);
  }
  return e;
}

class Emitter {
  constructor() { this.listeners = new Set(); }
  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  emit() { for (const fn of this.listeners) fn(); }
}

function explain(err) {
  const name = err && err.name ? err.name : "Error";
  const msg = err && err.message ? err.message : String(err);
  if (name === "NotAllowedError") return `${name}: microphone permission denied — allow it in the browser's site settings and press Start again`;
  if (name === "NotFoundError") return `${name}: the browser found no microphone`;
  if (name === "NotReadableError") return `${name}: the microphone is busy or failed (${msg})`;
  return `${name}: ${msg}`;
}

// Resolve `p`, or give up after `ms` (AudioContext.resume() never settles without a gesture).
const within = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);

class Microphone extends Emitter {
  constructor(model) {
    super();
    this.model = model;
    this.level = 0;
    this.seq = 0;
    this.running = false;
    model.on("msg:custom", (msg) => {
      if (msg && msg.type === "command") {
        if (msg.command === "start") this.start();
        else if (msg.command === "stop") this.stop();
      }
    });
    for (const name of ["echo_cancellation", "noise_suppression", "auto_gain_control", "chunk_ms"]) {
      model.on(`change:${name}`, () => { if (this.running) this.restart(); });
    }
  }

  setState(state, error = "") {
    this.model.set("state", state);
    this.model.set("error", error);
    this.model.save_changes();
    this.emit();
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  async start() {
    if (this.running || this.starting) return;
    this.starting = true;
    this.setState("starting");
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw { name: "NotSupportedError", message: "this page cannot use the microphone: it needs https:// or http://localhost (a secure context)" };
      }
      const m = this.model;
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: m.get("echo_cancellation"),
          noiseSuppression: m.get("noise_suppression"),
          autoGainControl: m.get("auto_gain_control"),
          channelCount: 1,
        },
      });
      const rate = m.get("sample_rate");
      this.ctx = new AudioContext(rate > 0 && !this.ctxRateFixed ? { sampleRate: rate } : {});
      if (this.ctx.state !== "running") await within(this.ctx.resume(), 1000);
      if (this.ctx.state !== "running") {
        this.starting = false;
        this.teardown();
        this.setState("blocked", "the browser wants a click before it records: press Start");
        return;
      }
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      try { await this.ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
      const chunkFrames = Math.max(128, Math.round(this.ctx.sampleRate * m.get("chunk_ms") / 1000));
      this.source = this.ctx.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.ctx, "s2st-pcm-capture", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        channelCount: 1, channelCountMode: "explicit", channelInterpretation: "speakers",
        processorOptions: { chunkFrames },
      });
      this.node.port.onmessage = (ev) => this.onChunk(ev.data);
      // The worklet must be pulled by the graph to run: route it to the output at zero gain.
      this.mute = this.ctx.createGain();
      this.mute.gain.value = 0;
      this.source.connect(this.node).connect(this.mute).connect(this.ctx.destination);
      const track = this.stream.getAudioTracks()[0];
      const s = track.getSettings ? track.getSettings() : {};
      this.running = true;
      this.starting = false;
      m.set("sample_rate", this.ctx.sampleRate);
      m.set("device_label", track.label || "");
      this.model.send({
        type: "started", sample_rate: this.ctx.sampleRate, label: track.label || "",
        chunk_frames: chunkFrames,
        settings: { echoCancellation: s.echoCancellation, noiseSuppression: s.noiseSuppression, autoGainControl: s.autoGainControl },
      });
      track.addEventListener("ended", () => { if (this.running) this.stop("the microphone went away"); });
      this.setState("running");
    } catch (err) {
      this.starting = false;
      this.teardown();
      this.setState("error", explain(err));
      this.model.send({ type: "error", message: explain(err) });
    }
  }

  onChunk({ pcm, rms, end }) {
    if (!this.running) return;
    // Capture time of the chunk's last sample: now, minus how long ago the worklet made it.
    const lagMs = Math.max(0, this.ctx.currentTime - end) * 1000;
    this.model.send(
      { type: "audio", seq: this.seq++, sample_rate: this.ctx.sampleRate, t_capture_ms: nowMs() - lagMs, rms },
      undefined, [pcm]);
    this.level = rms;
    this.emit();
  }

  teardown() {
    this.running = false;
    try { this.source && this.source.disconnect(); } catch (e) { /* already gone */ }
    try { this.node && (this.node.port.onmessage = null, this.node.disconnect()); } catch (e) { /* already gone */ }
    if (this.stream) for (const tr of this.stream.getTracks()) tr.stop();
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close();
    this.stream = this.ctx = this.node = this.source = this.mute = null;
    this.level = 0;
  }

  async stop(reason = "") {
    const was = this.running;
    this.teardown();
    if (was) this.model.send({ type: "stopped", reason });
    this.setState(reason ? "error" : "stopped", reason);
  }
}

class Speaker extends Emitter {
  constructor(model) {
    super();
    this.model = model;
    this.received = 0;
    this.played = 0;
    this.underruns = 0;
    this.next = 0;
    this.lastSync = 0;
    model.on("msg:custom", (msg, buffers) => {
      if (msg && msg.type === "play" && buffers && buffers.length) this.play(msg, buffers[0]);
    });
    model.on("change:volume", () => { if (this.gain) this.gain.gain.value = model.get("volume"); });
    // Autoplay policy: the first click anywhere on the page lets the context run.
    this.unlock = () => { if (this.ctx && this.ctx.state === "suspended") this.ctx.resume().then(() => this.status()); };
    document.addEventListener("pointerdown", this.unlock, true);
    document.addEventListener("keydown", this.unlock, true);
    this.model.send({ type: "ready" });
  }

  context() {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.gain = this.ctx.createGain();
      this.gain.gain.value = this.model.get("volume");
      this.gain.connect(this.ctx.destination);
      this.ctx.onstatechange = () => this.status();
    }
    if (this.ctx.state === "suspended") this.ctx.resume();
    return this.ctx;
  }

  status() {
    const st = !this.ctx ? "ready" : this.ctx.state === "running" ? "ready" : "blocked";
    if (this.model.get("state") !== st) {
      this.model.set("state", st);
      this.model.set("error", st === "blocked" ? "click anywhere on the page to let the browser play the translation" : "");
      this.model.save_changes();
    }
    this.emit();
  }

  play(msg, view) {
    const ctx = this.context();
    const n = view.byteLength >> 1;
    // Copy: the DataView may start at an odd offset inside the message buffer.
    const pcm = new Int16Array(view.buffer.slice(view.byteOffset, view.byteOffset + 2 * n));
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = pcm[i] / 32768;
    const buf = ctx.createBuffer(1, n, msg.sample_rate);
    buf.copyToChannel(f, 0);
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.gain);
    // Back to back: each buffer starts where the previous one ends; a segment's first buffer
    // (or one that arrives after the schedule ran dry) starts a little ahead of now.
    const now = ctx.currentTime;
    if (this.next < now + 0.005) {
      if (!msg.first && this.next > 0) this.underruns++;
      this.next = now + 0.05;
    }
    src.start(this.next);
    this.next += buf.duration;
    this.received += n;
    src.onended = () => {
      this.played += n;
      this.model.send({ type: "played", played_samples: this.played, received_samples: this.received, underruns: this.underruns });
      this.sync(true);
    };
    this.sync(false);
    this.status();
  }

  // Counters → synced traits, at most ~4 times a second (and at the end of each buffer).
  sync(force) {
    const t = performance.now();
    if (!force && t - this.lastSync < 250) { this.emit(); return; }
    this.lastSync = t;
    this.model.set("received_samples", this.received);
    this.model.set("played_samples", this.played);
    this.model.set("underruns", this.underruns);
    this.model.save_changes();
    this.emit();
  }
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.className = "s2st-audio-button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function toggle(model, name, label) {
  const l = document.createElement("label");
  l.className = "s2st-audio-toggle";
  const c = document.createElement("input");
  c.type = "checkbox";
  c.checked = model.get(name);
  c.addEventListener("change", () => { model.set(name, c.checked); model.save_changes(); });
  const sync = () => { c.checked = model.get(name); };
  model.on(`change:${name}`, sync);
  l.append(c, document.createTextNode(" " + label));
  return [l, () => model.off(`change:${name}`, sync)];
}

function renderMicrophone(model, el, mic) {
  el.classList.add("s2st-audio", "s2st-audio-mic");
  const start = button("Start", () => mic.start());
  const stop = button("Stop", () => mic.stop());
  const meter = document.createElement("div");
  meter.className = "s2st-audio-meter";
  const bar = document.createElement("div");
  bar.className = "s2st-audio-meter-bar";
  meter.append(bar);
  const status = document.createElement("span");
  status.className = "s2st-audio-status";
  const toggles = [
    toggle(model, "echo_cancellation", "echo cancellation"),
    toggle(model, "noise_suppression", "noise suppression"),
    toggle(model, "auto_gain_control", "auto gain"),
  ];
  const row = document.createElement("div");
  row.className = "s2st-audio-row";
  row.append(start, stop, meter, status);
  const opts = document.createElement("div");
  opts.className = "s2st-audio-row";
  opts.append(...toggles.map(([l]) => l));
  el.append(row, opts);
  let frame = 0;
  const draw = () => {
    // dBFS scale: -60 dB … 0 dB fills the bar.
    const db = mic.level > 0 ? 20 * Math.log10(mic.level) : -100;
    bar.style.width = `${Math.max(0, Math.min(100, (db + 60) * 100 / 60))}%`;
    frame = 0;
  };
  const update = () => {
    const state = model.get("state");
    const rate = model.get("sample_rate");
    const err = model.get("error");
    status.textContent = `microphone: ${state}${state === "running" && rate ? ` · ${rate} Hz` : ""}${err ? ` — ${err}` : ""}`;
    el.dataset.state = state;
    start.disabled = state === "running" || state === "starting";
    stop.disabled = !(state === "running" || state === "starting");
    // Inside the control panel its Start / Stop drive the microphone: the widget's own
    // buttons stay hidden, except "Allow microphone" when the browser wants a click.
    const own = model.get("show_buttons");
    start.textContent = own ? "Start" : "Allow microphone";
    start.style.display = own || state === "blocked" ? "" : "none";
    stop.style.display = own ? "" : "none";
    if (!frame) frame = requestAnimationFrame(draw);
  };
  const off = mic.on(update);
  model.on("change:state", update);
  model.on("change:error", update);
  model.on("change:show_buttons", update);
  update();
  return () => {
    off();
    model.off("change:state", update);
    model.off("change:error", update);
    model.off("change:show_buttons", update);
    for (const [, dispose] of toggles) dispose();
    if (frame) cancelAnimationFrame(frame);
  };
}

function renderSpeaker(model, el, spk) {
  el.classList.add("s2st-audio", "s2st-audio-speaker");
  const status = document.createElement("span");
  status.className = "s2st-audio-status";
  const enable = button("Enable sound", () => { spk.context(); spk.status(); });
  el.append(status, enable);
  const update = () => {
    const state = model.get("state");
    const sec = (n) => (n / 1).toLocaleString();
    status.textContent = `speaker: ${state} · received ${sec(spk.received)} samples, played ${sec(spk.played)}${spk.underruns ? ` · ${spk.underruns} gaps` : ""}`;
    el.dataset.state = state;
    el.dataset.receivedSamples = String(spk.received);
    el.dataset.playedSamples = String(spk.played);
    enable.style.display = state === "blocked" ? "" : "none";
  };
  const off = spk.on(update);
  model.on("change:state", update);
  update();
  return () => { off(); model.off("change:state", update); };
}

export default {
  initialize({ model }) {
    engineFor(model); // capture / playback exist once per model, even with no view
  },
  render({ model, el }) {
    const e = engineFor(model);
    return model.get("kind") === "speaker" ? renderSpeaker(model, el, e) : renderMicrophone(model, el, e);
  },
};
