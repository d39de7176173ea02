// s2st_kit live captions (LiveCaptions in captions_widget.py). The logic is CaptionFeed's,
// in Python; this view only draws the lines and picks the word being heard, every animation
// frame, from the browser speaker's own playback clock (browser_audio.js keeps one Speaker
// per uid in globalThis.__s2stAudio): samples played = samples scheduled − the seconds still
// ahead of AudioContext.currentTime × rate. A trace of highlight changes is kept on the
// element (el.__s2stCaptionTrace: {t_ms, segment_id, word, played}) for tests.

function playedSamples(model) {
  const spk = (globalThis.__s2stAudio || new Map()).get(model.get("speaker_uid"));
  const rate = model.get("rate");
  if (!spk || !spk.ctx || !rate) return null;
  const ahead = Math.max(0, spk.next - spk.ctx.currentTime);
  return spk.received - ahead * rate;
}

// Same rule as CaptionFeed.current(): the latest started segment, the last word whose start
// has been played; no word before the first one or after the audio ended.
function current(segments, played, rate) {
  let playing = null;
  for (const s of segments) {
    // strictly: a segment whose first sample has not arrived yet has not started
    if (s.start_sample !== null && played !== null && s.start_sample < played) playing = s;
  }
  if (!playing) return { seg: null, word: null };
  const pos = (played - playing.start_sample) / rate;
  // (1 ms of slack: audio_s is a sum of chunk durations, a hair above samples / rate)
  const last = playing.words.length ? playing.words[playing.words.length - 1][2] : null;
  const end = playing.audio_s !== null ? playing.audio_s : last;
  if (end !== null && pos >= end - 0.001) return { seg: playing, word: null };
  let word = null;
  playing.words.forEach((w, i) => { if (w[1] <= pos) word = i; });
  return { seg: playing, word };
}

function render({ model, el }) {
  el.classList.add("s2st-captions");
  const source = document.createElement("div");
  source.className = "s2st-captions-source";
  const target = document.createElement("div");
  target.className = "s2st-captions-target";
  el.append(source, target);
  const trace = (el.__s2stCaptionTrace = []);
  let shown = "";
  let maxPlayed = null;
  let frame = 0;

  const draw = () => {
    frame = requestAnimationFrame(draw);
    const segments = model.get("segments") || [];
    // The speaker's position only moves on: a new segment's first buffer, scheduled a lead
    // ahead of now, must not pull the estimate back into the segment that just ended.
    const now = playedSamples(model);
    if (now !== null && (maxPlayed === null || now > maxPlayed)) maxPlayed = now;
    const played = now === null ? null : maxPlayed;
    const { seg, word } = current(segments, played, model.get("rate"));
    const last = segments.length ? segments[segments.length - 1] : null;
    const show = seg || last;
    const id = show ? show.segment_id : null;
    const key = JSON.stringify([id, word, show ? [show.source, show.target, show.words.length] : null]);
    if (key === shown) return;
    shown = key;
    el.dataset.segment = id === null ? "" : String(id);
    el.dataset.word = word === null ? "" : String(word);
    trace.push({ t_ms: performance.now(), segment_id: id, word, played });
    if (trace.length > 5000) trace.shift();
    source.textContent = show ? show.source : "";
    target.replaceChildren();
    if (!show) return;
    if (!show.words.length) { target.textContent = show.target; return; }
    show.words.forEach((w, i) => {
      const span = document.createElement("span");
      span.className = "s2st-captions-word" + (seg && i === word ? " s2st-captions-current" : "");
      span.textContent = w[0];
      target.append(span, document.createTextNode(" "));
    });
    target.classList.toggle("s2st-captions-estimated", !!show.estimated);
  };
  frame = requestAnimationFrame(draw);
  return () => cancelAnimationFrame(frame);
}

export default { render };
