"""Write the notebooks in ``notebooks/`` from the cell sources below (reviewable, reproducible).

    .venv/bin/python scripts/make_notebooks.py            # (re)write every notebook
    .venv/bin/python scripts/make_notebooks.py --check    # exit 1 if a notebook is stale

Notebooks are written without outputs and with stable cell ids, so regenerating them
changes nothing unless a cell changed. Edit the cells here, not in JupyterLab (or copy
your JupyterLab edits back here).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"

SETUP = """\
import os
from pathlib import Path

from s2st_kit.datasets import data_dir

ROOT = data_dir().parent  # the repository
OUT = Path(os.environ.get("S2ST_NOTEBOOK_OUT", ROOT / "out" / "notebooks"))
OUT.mkdir(parents=True, exist_ok=True)
"""


def md(text: str) -> tuple[str, str]:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", textwrap.dedent(text).strip("\n"))


# --------------------------------------------------------------------------- 01 quickstart

QUICKSTART = [
    md("""
        # Quickstart: speech in, translated speech out

        This notebook runs the **offline stack** — pocketsphinx (speech recognition) →
        Apertium (translation) → eSpeak NG (speech synthesis) — on a short English recording,
        English → Spanish, with no cloud account. It shows the control panel, the segment log
        (one row per translated segment, with every stage's timestamps) and a latency plot.

        Run it top to bottom (*Run → Run All Cells*); it takes about half a minute.
    """),
    code(SETUP),
    code("""
        import numpy as np
        import soundfile as sf

        from s2st_kit.audio import read_audio
        from s2st_kit.datasets import librivox_clips, sample_clip
        from s2st_kit.notebook import ControlPanel

        # Real read speech: the two shortest LibriVox sentences of Debian's pocketsphinx-testdata
        # joined with pauses (about 8 s); without that package, a synthetic sample clip.
        clips = sorted(librivox_clips(), key=lambda c: sf.info(c.path).duration)[:2]
        if clips:
            pause = np.zeros(int(0.8 * 16000), np.float32)
            parts = [pause]
            for c in clips:
                parts += [read_audio(c.path, sample_rate=16000)[0], pause]
            recording = OUT / "quickstart_en.wav"
            sf.write(recording, np.concatenate(parts), 16000, subtype="PCM_16")
            reference = " ".join(c.transcript for c in clips)
        else:
            clip = sample_clip("en")
            recording, reference = clip.path, clip.transcript
        print(f"{recording.name}: {reference!r}")
    """),
    md("""
        ## The control panel

        Pick an engine per stage (unavailable ones are greyed out, with the reason), the
        languages (only pairs the chosen engines support are offered), a voice (▶ *Preview*
        speaks a sample sentence), the chunk size, the commit policy and the input. Then press
        **Start**: partial transcripts appear in grey and are replaced in place, finals in black
        with their translation underneath, and the latency chart redraws as segments are played.
        At the end the panel shows the segment table, a per-stage summary and a player for the
        translated speech.
    """),
    code("""
        panel = ControlPanel(
            asr="offline", mt="offline", tts="offline",
            source_lang="en", target_lang="es",
            input_path=str(recording),   # read at the speed of speech, like a microphone
        )
        panel
    """),
    md("""
        Press **Start** above — or run the next cell, which does the same from code and waits
        for the session to end. **Stop** works either way: while the cell awaits the session,
        the kernel still handles the panel's buttons.
    """),
    code("""
        log = await panel.run()
        print(f"{len(log)} segment(s) logged")
    """),
    md("""
        ## The segment log

        `panel.dataframe()` is the last session's log as a pandas DataFrame. Every `t_*`
        column is seconds on the session clock; the derived `*_s` columns split the
        ear-to-ear latency (`t_play_start − t_speech_end`) into stages that add up exactly.
    """),
    code("""
        df = panel.dataframe()
        df[["segment_id", "transcript", "translation", "asr_lag_s", "mt_s", "tts_ttfb_s", "queue_s",
            "ear_to_ear_s", "status"]]
    """),
    code("""
        from s2st_kit.metrics import stage_summary

        stage_summary(df).round(3)
    """),
    md("""
        ## One plot: the segment timeline

        Each row is a segment: the source speech and the translated playback (lower lane),
        recognition, translation and synthesis (upper lane). More plots in
        `03_latency_analysis.ipynb`.
    """),
    code("""
        from s2st_kit import plots

        plots.plot_timeline(df)
    """),
    md("## Save the log and load it again"),
    code("""
        from s2st_kit import SegmentLog

        path = panel.log.save(OUT / "quickstart.parquet")
        print(path, SegmentLog.load(path).to_pandas().shape)
    """),
    md("""
        ## The same without the panel

        The panel is a thin layer over the Python API. Here the file is read as fast as the
        pipeline consumes it (`realtime=False`) and the translated speech is kept in memory.
    """),
    code("""
        from IPython.display import Audio

        from s2st_kit import Engines, FileSource, MemorySink, Pipeline, PipelineConfig

        engines = Engines.create("offline")
        sink = MemorySink()
        pipe = Pipeline(
            engines, PipelineConfig(source_lang="en", target_lang="es"),
            source=FileSource(recording, realtime=False), sink=sink,
        )
        log2 = await pipe.run()
        await engines.aclose()
        display(log2.to_pandas()[["transcript", "translation"]])
        Audio(sink.audio() / 32768, rate=sink.sample_rate, normalize=False)
    """),
]

# --------------------------------------------------------------------------- 02 live microphone

LIVE = [
    md("""
        # Live input: local microphone, browser microphone — or a file paced in real time

        Three ways to feed live speech to the pipeline:

        1. **Local microphone** (PortAudio through PyAudio): when the kernel runs on a machine
           with a sound card.
        2. **Browser microphone and speaker** (anywidgets using `getUserMedia` and Web Audio):
           when the kernel runs on a server and you sit at the browser.
        3. **The control panel** offers all of them — local devices, the browser microphone,
           browser playback, the echo guard — and, as a fallback, a recording paced at the
           speed of speech, which the pipeline cannot tell from a microphone. Headless runs
           (CI) take this path.

        Each section says what it found and skips cleanly when its input is missing; no cell
        waits for you.
    """),
    code(SETUP),
    code("""
        from s2st_kit import Engines, Pipeline, PipelineConfig
        from s2st_kit.datasets import librivox_clips, sample_clip
        from s2st_kit.notebook import ControlPanel, InputCatalog

        inputs = InputCatalog()
        mics, mic_problem = inputs.microphones()
        browser_audio, browser_problem = inputs.browser()
        print("local microphone:  ", ", ".join(d.name for d in mics) if mics else f"unavailable — {mic_problem}")
        print("browser microphone:", "available (needs a browser showing this notebook)" if browser_audio else f"unavailable — {browser_problem}")
    """),
    md("## 1. Local microphone"),
    code("""
        HAVE_MIC = bool(mics)
        if HAVE_MIC:
            from s2st_kit.audio.devices import list_devices

            for device in list_devices():
                print(device)
        else:
            print(f"skipped: no local microphone ({mic_problem})")
    """),
    md("""
        ## 2. Browser microphone and speaker

        The widgets below capture from the browser's microphone and play the translation
        through its speakers. Choose the browser's processing (*echo cancellation*, *noise
        suppression*, *auto gain*), then press **Start** on the microphone and allow access:
        a session starts by itself (offline engines, English → Spanish). Speak; finals and
        their translations appear in the feed. **Stop session** stops the microphone, finishes
        the last segments and shows the segment table.

        With open speakers the microphone would hear the translation: an **echo guard** mutes
        the input while it plays (`GUARD_ENABLED = False` to switch it off). Each session writes
        to `S2ST_LIVE_OUT` (default `out/live/` in the repository): the segment log
        `session.jsonl`, the audio that reached Python `session.input.wav`, the muted spans
        `session.muted.json` and the microphone / speaker counters `session.stats.json`
        (capture → arrival delays included). Later sessions are numbered `session-2.jsonl`, …

        The session runs in the background (`pipe.start()`): the kernel handles widget messages
        only between cells, so a cell awaiting the whole session would hold the audio back.
    """),
    code("""
        import asyncio
        import html
        import json
        import time
        from types import SimpleNamespace

        import ipywidgets as W

        from s2st_kit.audio.echo import EchoGuard
        from s2st_kit.experiments import input_audio_path
        from s2st_kit.notebook import ResultsView, TranscriptFeed
        from s2st_kit.pipeline import validate

        LIVE_OUT = Path(os.environ.get("S2ST_LIVE_OUT", ROOT / "out" / "live"))
        LIVE_MAX_S = float(os.environ.get("S2ST_LIVE_MAX_S") or 0)  # > 0: stop by itself after that (s)
        LIVE_CONFIG = PipelineConfig(source_lang="en", target_lang="es", chunk_ms=100)
        GUARD_ENABLED = True

        try:
            live_engines = Engines.create("offline")
            validate(live_engines, LIVE_CONFIG)
            LIVE_ENGINE = "offline"
        except Exception as exc:
            print(f"offline engines unavailable ({exc}); using simulated engines")
            live_engines, LIVE_ENGINE = Engines.create("simulated"), "simulated"
        print(f"engines: {LIVE_ENGINE}; session files go to {LIVE_OUT}")
    """),
    code("""
        if browser_audio is not None:
            mic = browser_audio.BrowserMicrophone(chunk_ms=100)  # echo_cancellation=..., noise_suppression=..., auto_gain_control=...
            speaker = browser_audio.BrowserSpeaker()
            feed = TranscriptFeed(max_lines=10)
            results = ResultsView()
            status = W.HTML("<i>press <b>Start</b> on the microphone: the session starts with it</i>")
            stop_button = W.Button(description="Stop session", icon="stop", disabled=True,
                                   layout=W.Layout(width="auto", flex="0 0 auto"))
            feed.widget.add_class("s2st-live-feed")
            results.widget.add_class("s2st-live-results")
            display(mic, speaker, W.HBox([stop_button, status]), feed.widget, results.widget)
        else:
            print(f"skipped: {browser_problem}")
    """),
    code("""
        LOOP = asyncio.get_running_loop()  # the cells' loop: widget callbacks may run on another one
        live = None  # the running session: pipe, guard, log path
        live_sessions = 0
        live_tasks = set()


        def start_session():
            \"\"\"A session on the browser microphone and speaker, behind the echo guard.\"\"\"
            global live, live_sessions
            if live is not None:
                return  # already running (the microphone was restarted)
            live_sessions += 1
            log_path = LIVE_OUT / ("session.jsonl" if live_sessions == 1 else f"session-{live_sessions}.jsonl")
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.unlink(missing_ok=True)
            guard = EchoGuard(mic.source(max_buffered_s=5.0), speaker.sink(), enabled=GUARD_ENABLED)
            pipe = Pipeline(live_engines, LIVE_CONFIG, source=guard.source, sink=guard.sink,
                            log_path=log_path, record_input=input_audio_path(log_path), clock=guard.clock)
            feed.reset()
            results.reset()
            pipe.subscribe(feed.handle)
            pipe.subscribe(lambda ev: ev.kind == "error" and ev.fatal and show_failure(ev.message))
            pipe.start()
            live = SimpleNamespace(pipe=pipe, guard=guard, log_path=log_path, stopping=False)
            stop_button.disabled = False
            status.value = f"<b style='color:#2e7d32'>● session running</b> · logging to <code>{log_path}</code>"
            if LIVE_MAX_S > 0:
                LOOP.call_later(LIVE_MAX_S, run_soon, stop_session, live)


        async def stop_session(session=None):
            \"\"\"Stop the microphone and the session; save spans and stats beside the log.\"\"\"
            global live
            session = session or live
            if session is None or session is not live or session.stopping:
                return
            session.stopping = True
            stop_button.disabled = True
            status.value = "<b style='color:#b8860b'>● stopping</b>: finishing the last segments…"
            mic.stop()
            guard, log_path = session.guard, session.log_path
            stats_path = log_path.with_suffix(".stats.json")
            try:
                log = await session.pipe.stop()
                guard.save_json(guard.spans_path(log_path))
                await asyncio.sleep(0.5)  # the speaker's last playback counters
                mic_stats = guard.source.stats
                stats = {
                    "engine": LIVE_ENGINE, "t_stop": time.time(),
                    "mic": mic_stats.as_dict(), "delays_ms": list(mic_stats.delays_ms),
                    "mic_rate": guard.source.sample_rate, "received_samples": mic_stats.samples,
                    "speaker": guard.sink.stats.as_dict(), "speaker_received_samples": speaker.received_samples,
                    "guard": guard.summary(),
                    "pipeline": {"audio_s": session.pipe.stats.audio_s, "state": session.pipe.state.value,
                                 "error": None if session.pipe.error is None else repr(session.pipe.error)},
                }
                stats_path.write_text(json.dumps(stats, indent=1, default=str))
                results.show(log.to_pandas())
                status.value = (f"<b style='color:#1565c0'>● stopped</b> · {len(log)} segments · "
                                f"<code>{log_path}</code>, <code>{stats_path.name}</code>")
            except Exception as exc:
                import traceback

                stats_path.write_text(json.dumps({"error": traceback.format_exc()}))
                show_failure(repr(exc))
            finally:
                live = None


        def show_failure(message):
            status.value = f"<b style='color:#c62828'>● failed</b>: {html.escape(message)} — press Stop session"


        def run_soon(fn, *args):
            \"\"\"Run coroutine function ``fn`` as a task on the cells' loop (from any thread).\"\"\"
            def create():
                task = LOOP.create_task(fn(*args))
                live_tasks.add(task)
                task.add_done_callback(live_tasks.discard)

            LOOP.call_soon_threadsafe(create)


        def on_mic_state(change):
            if change["new"] == "running":  # may be called on another thread: hand over to LOOP
                LOOP.call_soon_threadsafe(start_session)


        if browser_audio is not None:
            mic.observe(on_mic_state, "state")
            stop_button.on_click(lambda _: run_soon(stop_session))
            print("waiting for Start on the microphone widget (nothing runs until then)")
        else:
            print("skipped: no browser microphone")
    """),
    md("""
        After a session, the last log as a table (run this cell once you have pressed
        **Stop session**):
    """),
    code("""
        from s2st_kit import SegmentLog

        last_log = LIVE_OUT / ("session.jsonl" if live_sessions <= 1 else f"session-{live_sessions}.jsonl")
        if live is None and live_sessions and last_log.exists():
            display(SegmentLog.load(last_log).to_pandas()[["transcript", "translation", "ear_to_ear_s"]])
        else:
            print("no finished browser session yet")
    """),
    md("""
        ## 3. The panel with a live input

        The panel offers the inputs it found — the local microphone, the browser microphone,
        a file — and the outputs (paced into memory, the local speaker, the browser speaker);
        unavailable ones are greyed out with the reason. With a live input and a loudspeaker
        the echo guard is on (`panel.echo_guard`). With a microphone, press **Start**, speak,
        and press **Stop**.
    """),
    code("""
        import soundfile as sf

        clips = sorted(librivox_clips(), key=lambda c: sf.info(c.path).duration)  # shortest first
        clip = clips[0] if clips else sample_clip("en")
        LIVE_INPUT = "microphone" if HAVE_MIC else "file"

        panel = ControlPanel(input_kind=LIVE_INPUT, input_path=str(clip.path), pace=1.0)
        panel
    """),
    md("""
        ## 4. Fallback: a recording paced in real time

        Without a live input the panel reads the clip at the speed of speech (each 100 ms
        chunk is released when a microphone would have captured it), so the latencies are
        those of a live session.
    """),
    code("""
        if panel.model.selection.input_kind == "file":
            log = await panel.run()
            print(f"{len(log)} segments from {Path(panel.model.selection.input_path).name}, paced in real time")
        else:
            print("live input: press Start in the panel, speak, then press Stop")
    """),
    code("""
        panel.dataframe()[["segment_id", "transcript", "translation", "t_speech_end", "t_play_start", "ear_to_ear_s"]]
    """),
]

# --------------------------------------------------------------------------- 03 latency analysis

LATENCY = [
    md("""
        # Latency analysis

        Where does the time go between the end of a phrase and the start of its translation?
        This notebook produces logs with the **simulated cloud-like stack** (latency models
        from published Transcribe / Translate / Polly figures; deterministic, no account
        needed), loads them back from disk together with `out/demo` (the offline stack's log
        from `make demo`, if present), and draws every plot of `s2st_kit.plots`.
    """),
    code(SETUP),
    code("""
        import asyncio

        import pandas as pd

        from s2st_kit import FileSource, PacedSink, Pipeline, PipelineConfig, SegmentLog, plots
        from s2st_kit.datasets import load_manifest
        from s2st_kit.experiments import ClipInput, compare, simulated_engines
        from s2st_kit.metrics import session_metrics, stage_summary
    """),
    md("""
        ## Generate logs

        Three English clips at two chunk sizes, all six sessions at once, each paced in real
        time (about 7 s in total). Each session's log is written as JSONL while it runs.
    """),
    code("""
        clips = [c for c in load_manifest() if c.language == "en"]


        async def session(clip, chunk_ms):
            engines = await simulated_engines(ClipInput.of(clip), preset="cloud-like", seed=1)
            config = PipelineConfig(source_lang="en", target_lang="es", chunk_ms=chunk_ms)
            path = OUT / f"latency_{clip.id}_{chunk_ms}ms.jsonl"
            path.unlink(missing_ok=True)
            source = FileSource(clip.path, chunk_ms=chunk_ms, realtime=True)
            pipe = Pipeline(engines, config, source=source, sink=PacedSink(), log_path=path)
            await pipe.run()
            await engines.aclose()
            return path


        paths = await asyncio.gather(*(session(c, ms) for c in clips for ms in (100, 300)))
        [p.name for p in paths]
    """),
    md("## Load logs"),
    code("""
        logs = {p.stem.removeprefix("latency_"): SegmentLog.load(p).to_pandas() for p in paths}
        demo = ROOT / "out" / "demo" / "segments.parquet"
        if demo.exists():
            logs["demo_offline"] = SegmentLog.load(demo).to_pandas()
            print(f"loaded {demo}")
        else:
            print("no out/demo/segments.parquet: run `make demo` to add the offline stack's log")

        simulated = {name: d for name, d in logs.items() if name != "demo_offline"}
        df = pd.concat([d.assign(session=name) for name, d in simulated.items()], ignore_index=True)
        pd.Series({name: len(d) for name, d in logs.items()}, name="segments")
    """),
    md("""
        ## Per-stage latency

        `asr_lag_s` + `dispatch_s` + `mt_s` + `handoff_s` + `tts_ttfb_s` + `queue_s` =
        `ear_to_ear_s` (seconds, ok segments only).
    """),
    code("stage_summary(df).round(3)"),
    code("plots.plot_stage_latency(df)"),
    md("""
        One session's segments (its sentences, in speech order), each bar split into the six
        stages: the session where translations waited longest behind earlier playback.
    """),
    code("""
        busiest = max(simulated, key=lambda name: simulated[name]["queue_s"].sum())
        print(f"session {busiest}: {len(simulated[busiest])} segments")
        plots.plot_decomposition(simulated[busiest])
    """),
    md("## The timeline of one session"),
    code("""
        first = next(iter(logs))
        plots.plot_timeline(logs[first])
    """),
    code("""
        if "demo_offline" in logs:
            display(stage_summary(logs["demo_offline"]).round(3))
            display(plots.plot_timeline(logs["demo_offline"]))
        else:
            print("skipped: no demo log")
    """),
    md("## Ear-to-ear latency distribution per session"),
    code("plots.plot_ear_to_ear_cdf(logs)"),
    md("## 100 ms vs 300 ms chunks"),
    code("""
        a, b = df[df.chunk_ms == 100], df[df.chunk_ms == 300]
        compare(a, b, labels=("100 ms", "300 ms")).round(3)
    """),
    code('plots.plot_compare(a, b, labels=("100 ms", "300 ms"))'),
    code('plots.plot_sweep(df, x="chunk_ms", y="ear_to_ear_s", hue=None)'),
    md("""
        ## SimulEval latency scores per session

        Seconds (SimulEval reports milliseconds). Meaningful here because every session was
        paced in real time; `_CA` scores use the actual playback.
    """),
    code("""
        scores = pd.DataFrame(
            {name: session_metrics(d, source_duration_s=None) for name, d in logs.items()}
        ).T
        columns = ["StartOffset", "EndOffset", "RTF", "ATD", "AL", "LAAL", "DAL", "AP", "StartOffset_CA"]
        table = scores[columns].astype(float).round(3)
        table["n_output_segments"] = scores["n_output_segments"].astype(int)
        table
    """),
    md("""
        ## What this showed, and where to go next

        - Every segment's ear-to-ear latency splits into six stages that add up exactly; on the
          cloud-like stack most of it is the recognizer finalising (`asr_lag_s`) and synthesis
          to first audio (`tts_ttfb_s`), and `queue_s` appears when one translation has to wait
          for the previous one to finish playing.
        - 300 ms chunks add about 0.2 s to the ear-to-ear latency compared with 100 ms chunks:
          the wait for a chunk to fill, counted in `asr_lag_s`.
        - Next: `04_chunk_size_sweep.ipynb` sweeps chunk sizes and commit policies on
          multi-clause speech; `05_voices.ipynb` compares the synthesis voices; `s2st report
          <log>` writes these plots for any saved log, e.g. your own session from
          `02_live_microphone.ipynb`.
    """),
]

# --------------------------------------------------------------------------- 04 chunk-size sweep

SWEEP = [
    md("""
        # Chunk-size sweep

        How do the size of the audio chunks sent to the recognizer and the commit policy change
        the latency? A small grid — four chunk sizes × two commit policies — run with the
        **simulated cloud-like stack** on a talk of four long sentences with several clauses
        each (where the policies differ), paced in real time, eight sessions at once (about
        30 s). Results are saved to Parquet after every finished cell: run the sweep again and
        finished cells are skipped (delete the file to start over).
    """),
    code(SETUP),
    code("""
        import numpy as np
        import pandas as pd
        import soundfile as sf

        from s2st_kit import plots
        from s2st_kit.experiments import ClipInput, sweep
        from s2st_kit.workloads import talk_audio

        # Four sentences of three or four clauses, read at 2.6 words/s with 0.8 s pauses. The
        # simulated recognizer follows this script; the audio is a speech-like tone where the
        # sentences are (the recognizer only needs its timing).
        SENTENCES = [
            "When the meeting started, the room was still half empty, so we waited a few minutes.",
            "The first speaker talked about trains, the second about buses, and the third about bicycles.",
            "After the break, we split into groups, wrote our ideas on cards, and shared them with everyone.",
            "If the weather is good tomorrow, we will walk to the station and take the early train.",
        ]
        script, t = [], 0.5
        for text in SENTENCES:
            duration = len(text.split()) / 2.6
            script.append((text, t, t + duration))
            t += duration + 0.8
        wav = OUT / "clause_talk.wav"
        sf.write(wav, talk_audio(t + 0.5, [(a, b) for _, a, b in script]), 16000, subtype="PCM_16")
        talk = ClipInput(id="clause_talk", path=wav, script=tuple(script))

        grid = {"chunk_ms": [50, 100, 200, 400], "policy": ["final", "stable"]}
        df = await sweep([talk], grid, preset="cloud-like", realtime=True, concurrency=8,
                         out=OUT / "chunk_sweep.parquet")
        df.groupby(["policy", "chunk_ms"]).size().unstack()  # segments per session
    """),
    md("""
        `final` translates each sentence once the recognizer has finalised all of it (four
        segments); `stable` commits a clause as soon as the recognizer marks its words stable
        and it ends at a comma (twelve segments).

        ## Ear-to-ear latency and where the chunk size goes

        `ear_to_ear_s` runs from when the speaker finished a segment's last word
        (`t_speech_end`) to when its translation starts playing. For a paced source
        `t_speech_end` is the delivery time of the chunk holding that word minus the audio
        after it in the chunk, so the **wait for a chunk to fill is already included**: it is
        part of `asr_lag_s` (see `s2st_kit.metrics`), which grows with the chunk size — on
        average by half a chunk, at most by one.
    """),
    code('plots.plot_sweep(df, x="chunk_ms", y="ear_to_ear_s", hue="policy")'),
    code('plots.plot_sweep(df, x="chunk_ms", y="asr_lag_s", hue="policy")'),
    md("""
        With `final`, ear-to-ear latency rises with the chunk size (about 0.2 s from 50 to
        400 ms chunks), and `asr_lag_s` shows that the rise is the fill wait. `stable` segments
        (clauses) are heard about half a second sooner after their last word, because the
        recognizer marks words stable before it finalises the sentence; with twelve clauses
        per point and a wide spread, the chunk size does not show in its medians.

        The bigger difference is when a listener starts hearing a *sentence*: below, from the
        moment the speaker began each sentence to the moment the translation of its first
        segment starts playing (`t_play_start − t_speech_start` of the sentence's first
        segment). With `final` that is the whole sentence plus the latency (about 8 s here);
        with `stable`, its first clause plus the latency (about 3 s).
    """),
    code("""
        starts = np.array([a for _, a, _ in script])
        df["sentence"] = np.searchsorted(starts, df["audio_start_s"] + 0.05) - 1
        first = (df[df.status == "ok"].sort_values("audio_start_s")
                 .groupby(["policy", "chunk_ms", "sentence"], as_index=False).first())
        first["sentence_start_to_play_s"] = first["t_play_start"] - first["t_speech_start"]
        plots.plot_sweep(first, x="chunk_ms", y="sentence_start_to_play_s", hue="policy")
    """),
    md("""
        ## Table (medians, s)

        `speech_end_to_play_s` = `t_play_start − audio_end_s` recomputes `ear_to_ear_s` from
        stream positions: with real-time pacing the session clock is the stream position plus
        a constant offset (the session time at which stream position 0 was delivered), so the
        two columns differ by that offset only (printed below) — the chunk-fill wait is in
        both.
    """),
    code("""
        df["speech_end_to_play_s"] = df["t_play_start"] - df["audio_end_s"]
        per_segment = df.pivot_table(index="chunk_ms", columns="policy", aggfunc="median",
                                     values=["ear_to_ear_s", "speech_end_to_play_s", "asr_lag_s"])
        per_sentence = first.pivot_table(index="chunk_ms", columns="policy", aggfunc="median",
                                         values=["sentence_start_to_play_s"])
        offset = df["speech_end_to_play_s"] - df["ear_to_ear_s"]
        print(f"speech_end_to_play_s − ear_to_ear_s: {offset.min():.3f} to {offset.max():.3f} s")
        pd.concat([per_segment, per_sentence], axis=1).round(3)
    """),
    md("""
        ## What this showed, and where to go next

        - Bigger chunks add their fill time to `asr_lag_s` and so to `ear_to_ear_s`; 50–100 ms
          chunks cost the least latency.
        - On multi-clause speech the `stable` policy starts the translation of a sentence
          several seconds sooner than `final`, and each clause is heard sooner after it was
          spoken; on single short sentences the two policies are the same.
        - The stages behind these numbers, plot by plot: `03_latency_analysis.ipynb`. The same
          on real recognizers: run the sweep with `engines="offline"` (pocketsphinx has no
          stability marks, so use `policy="local-agreement"` there) or `06_aws.ipynb`. Long
          talks where the translation falls behind: `07_long_speech.ipynb`.
    """),
]

# --------------------------------------------------------------------------- 05 voices

VOICES = [
    md("""
        # Comparing eSpeak NG voices

        For a few voices: time to first audio (what the listener waits for), total synthesis
        time, the duration of the speech and its speaking rate — then listen to each. Timings
        are the median of five runs per voice (the machine's load varies from run to run).
    """),
    code(SETUP),
    code("""
        import time

        import numpy as np
        import pandas as pd
        from IPython.display import Audio, Markdown

        from s2st_kit.engines.offline.espeak import ESpeakSynthesizer
        from s2st_kit.notebook.model import SAMPLE_SENTENCES

        synth = ESpeakSynthesizer()
        print(f"{len(synth.voices())} voices; Spanish: {[v.id for v in synth.voices('es')]}")
    """),
    code("""
        async def measure(voice, language, text, synthesizer=synth):
            \"\"\"Synthesize ``text``; timings in ms, duration in s, rate in characters per second.\"\"\"
            t0 = time.perf_counter()
            first, pcm = None, []
            async for chunk in synthesizer.synthesize(text, voice=voice, language=language):
                if first is None:
                    first = time.perf_counter() - t0
                pcm.append(chunk.pcm)
            total = time.perf_counter() - t0
            audio = np.frombuffer(b"".join(pcm), np.int16)
            duration = len(audio) / synthesizer.sample_rate
            row = {"voice": voice, "language": language, "first_audio_ms": 1000 * first,
                   "synthesis_ms": 1000 * total, "duration_s": duration,
                   "chars_per_s": len(text) / duration, "real_time_factor": total / duration}
            return row, audio


        VOICES = [("es", "es"), ("es-419", "es"), ("es+f3", "es"), ("en-US", "en"), ("en", "en"),
                  ("fr", "fr"), ("de", "de")]
        RUNS = 5
        runs, audio = [], {}
        for voice, language in VOICES:
            await measure(voice, language, "warm up")  # the first call loads the voice
            for run in range(RUNS):
                row, audio[voice] = await measure(voice, language, SAMPLE_SENTENCES[language])
                runs.append({**row, "run": run})
        runs = pd.DataFrame(runs)
        table = runs.groupby("voice", sort=False).median(numeric_only=True).drop(columns="run")
        table["first_audio_ms_min"] = runs.groupby("voice", sort=False).first_audio_ms.min()
        table["first_audio_ms_max"] = runs.groupby("voice", sort=False).first_audio_ms.max()
        # eSpeak NG is about a thousand times faster than real time: six decimals for its
        # real-time factor (synthesis time / speech duration) keep three significant digits
        table.round({"first_audio_ms": 2, "first_audio_ms_min": 2, "first_audio_ms_max": 2,
                     "synthesis_ms": 1, "duration_s": 2, "chars_per_s": 1, "real_time_factor": 6})
    """),
    code("""
        from matplotlib.figure import Figure
        from IPython.display import Image
        import io

        fig = Figure(figsize=(10, 3.2), layout="constrained")
        left, right = fig.subplots(1, 2)
        spread = [table.first_audio_ms - table.first_audio_ms_min,
                  table.first_audio_ms_max - table.first_audio_ms]
        left.bar(table.index, table.first_audio_ms, yerr=spread, capsize=4, color="#ff7f0e")
        left.set_ylabel("time to first audio (ms)")
        left.set_title(f"Time to first audio (median of {RUNS}; bars: min–max)")
        right.bar(table.index, table.chars_per_s, color="#1f77b4")
        right.set_ylabel("speaking rate (chars/s)")
        right.set_title("Speaking rate")
        for ax in (left, right):
            ax.tick_params(axis="x", rotation=30)
            ax.grid(axis="y", alpha=0.3)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        Image(buffer.getvalue())
    """),
    md("""
        ## Speaking rate setting

        `ESpeakSynthesizer(rate=...)` is in words per minute (default 175): slower speech is
        easier to follow but delays the next segment's playback.
    """),
    code("""
        rate_rows = []
        text = SAMPLE_SENTENCES["es"]
        for wpm in (130, 175, 250):
            s = ESpeakSynthesizer(rate=wpm)
            row, _ = await measure("es", "es", text, synthesizer=s)
            rate_rows.append({"rate_wpm": wpm, **row})
            await s.aclose()
        rates = pd.DataFrame(rate_rows).set_index("rate_wpm")
        rates[["duration_s", "chars_per_s", "first_audio_ms"]].round({"duration_s": 2, "chars_per_s": 1,
                                                                     "first_audio_ms": 2})
    """),
    md("## Listen"),
    code("""
        for voice, samples in audio.items():
            display(Markdown(f"**{voice}** — {table.loc[voice, 'duration_s']:.1f} s"))
            display(Audio(samples / 32768, rate=synth.sample_rate, normalize=False))
    """),
    code("await synth.aclose()"),
    md("""
        ## What this showed, and where to go next

        - eSpeak NG starts speaking within a millisecond or so and synthesises hundreds of times
          faster than real time, for every voice: in the offline stack synthesis is never what
          the listener waits for (recognition and the end of the sentence are).
        - Voices differ mostly in speaking rate, and the rate decides how long a translation
          plays — with long talks, whether the listener falls behind the speaker.
        - Next: pick a voice in the control panel of `01_quickstart.ipynb` (▶ *Preview* speaks
          a sample); `07_long_speech.ipynb` shows what speaking rate and lag control do over a
          long talk; `06_aws.ipynb` compares Amazon Polly's voices when you have an account.
    """),
]

# --------------------------------------------------------------------------- 06 AWS

AWS = [
    md("""
        # Amazon Web Services: Transcribe streaming, Translate, Polly

        The cloud reference stack. Every cell that talks to AWS checks `HAVE_AWS` first and
        prints `skipped: …` without credentials, so the notebook runs anywhere. Credentials
        come from the standard AWS chain (environment, `~/.aws`, SSO, a role) and are never
        printed. Running the session below costs a few cents (Transcribe bills streams by the
        second, 15 s minimum).
    """),
    code(SETUP),
    code("""
        from s2st_kit.notebook.model import aws_credentials_problem

        REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        problem = aws_credentials_problem()
        HAVE_AWS = problem is None
        print("AWS credentials:", "found" if HAVE_AWS else f"missing — {problem}")
    """),
    md("""
        ## Doctor: credentials, region, reachability

        `doctor.run_checks()` says where the credentials come from (never their values),
        which region is used, whether the Transcribe streaming endpoint answers over HTTP/2
        and whether Translate and Polly accept the credentials. It starts no billable stream.
    """),
    code("""
        try:
            from s2st_kit.engines.aws import doctor
        except ImportError as exc:
            doctor = None
            print(f"skipped: the AWS doctor is not available ({exc})")
        if doctor is not None:
            results = await doctor.run_checks(region=REGION, timeout_s=3)
            print(doctor.format_report(results))
    """),
    md("The least-privilege IAM policy for the three engines:"),
    code("""
        if doctor is not None:
            print(doctor.iam_policy_json())
    """),
    md("""
        ## The panel

        Without credentials the AWS buttons are greyed out and the reason is shown under them;
        with credentials the voice list comes from Polly (`DescribeVoices`), filtered by the
        target language and the Polly engine.
    """),
    code("""
        from s2st_kit.notebook import ControlPanel

        panel = ControlPanel(asr="aws", mt="aws", tts="aws") if HAVE_AWS else ControlPanel()
        panel
    """),
    md("## Polly voices"),
    code("""
        from s2st_kit import Engines

        if not HAVE_AWS:
            print("skipped: no AWS credentials")
        else:
            engines = Engines.create("aws", options={"aws": {"region": REGION}})
            voices = await engines.synthesizer.load_voices()
            print(f"{len(voices)} voices; Spanish:")
            for v in voices:
                if v.language == "es":
                    print(f"  {v.id:10} {v.locale:6} {v.gender or '':7} engines: {', '.join(v.engines)}")
    """),
    md("""
        ## A session on the cloud stack

        A short English recording, paced in real time, translated to Spanish.
    """),
    code("""
        from s2st_kit import FileSource, PacedSink, Pipeline, PipelineConfig
        from s2st_kit.datasets import librivox_clips, sample_clip

        if not HAVE_AWS:
            print("skipped: no AWS credentials")
        else:
            clips = librivox_clips()
            clip = clips[0] if clips else sample_clip("en")
            pipe = Pipeline(engines, PipelineConfig(source_lang="en", target_lang="es"),
                            source=FileSource(clip.path, realtime=True), sink=PacedSink(),
                            log_path=OUT / "aws_session.jsonl")
            aws_log = await pipe.run()
            display(aws_log.to_pandas()[["transcript", "translation", "asr_lag_s", "mt_s", "tts_ttfb_s", "ear_to_ear_s"]])
    """),
    md("## Mixing: Amazon Transcribe with the offline translator and voice"),
    code("""
        if not HAVE_AWS:
            print("skipped: no AWS credentials")
        else:
            mixed = Engines.create(asr="aws", mt="offline", tts="offline", options={"aws": {"region": REGION}})
            pipe = Pipeline(mixed, PipelineConfig(source_lang="en", target_lang="es"),
                            source=FileSource(clip.path, realtime=True), sink=PacedSink())
            mixed_log = await pipe.run()
            await mixed.aclose()
            await engines.aclose()
            display(mixed_log.to_pandas()[["transcript", "translation", "ear_to_ear_s"]])
    """),
]

# --------------------------------------------------------------------------- 07 long speech

LONG_SPEECH = [
    md("""
        # Long speech: keeping the listener close behind the speaker

        On a long talk whose translation is longer than the source (Spanish runs about 1.2×
        English), every sentence's translated speech queues behind the previous one's —
        playback never overlaps — and the listener falls further behind with every sentence.
        **Lag control** (`PipelineConfig(max_lag_s=3.0, max_speedup=1.5, catch_up="speed+skip")`)
        plays speech faster when the listener falls behind and, as a last resort, leaves a
        segment out (status `skipped`; its translation stays in the log).

        This notebook simulates a **5-minute dense talk** — sentences of 5–11 words with
        0.3–0.7 s pauses, translated speech 1.2× the talk's time — through the simulated
        cloud-like stack (latency models from published Transcribe / Translate / Polly figures)
        in real time, **time-scaled 10×**: the source, the playback and every latency run 10
        times faster and the session clock with them, so the logs hold the talk's own seconds.
        Five sessions run at once (about 40 s): no control, and control with a maximum speed-up
        of 1.0, 1.25, 1.5 and 2.0. `python -m benchmarks --only drift` measures the same on a
        30-minute talk.
    """),
    code(SETUP),
    code("""
        import asyncio

        import numpy as np
        import pandas as pd

        from s2st_kit import PipelineConfig, plots
        from s2st_kit.workloads import dense_talk, run_talk

        K = 10          # time scale: 5 minutes of talk in 30 s
        MAX_LAG_S = 3.0
        SPEEDUPS = (1.0, 1.25, 1.5, 2.0)
        talk = dense_talk(5, ratio=1.2)
        configs = {"no control": PipelineConfig()} | {
            f"max_speedup {s:g}": PipelineConfig(max_lag_s=MAX_LAG_S, max_speedup=s, catch_up="speed+skip")
            for s in SPEEDUPS
        }
        frames = await asyncio.gather(*(run_talk(talk, config, k=K) for config in configs.values()))
        logs = dict(zip(configs, frames))
        off, on = logs["no control"], logs["max_speedup 1.5"]
        print(f"{len(talk.script)} sentences, {talk.duration_s / 60:.1f} minutes of talk, "
              f"{len(logs)} sessions")
    """),
    md("""
        ## The lag over the session

        One row per session. `ear_to_ear_s` (`t_play_start − t_speech_end`, s) is how far behind
        the speaker the listener is when a segment starts playing; `last / first minute` is the
        p95 of the segments spoken in the last minute over that of the first (1.0: no drift).
    """),
    code("""
        def lag_table(logs):
            rows = {}
            for name, df in logs.items():
                ok = df[df.status == "ok"]
                end = df.audio_end_s.max()
                first = ok[ok.audio_end_s <= 60].ear_to_ear_s.quantile(0.95)
                last = ok[ok.audio_end_s >= end - 60].ear_to_ear_s.quantile(0.95)
                rows[name] = {"ear_to_ear median (s)": ok.ear_to_ear_s.median(),
                              "ear_to_ear p95 (s)": ok.ear_to_ear_s.quantile(0.95),
                              "ear_to_ear max (s)": ok.ear_to_ear_s.max(),
                              "last / first minute": last / first,
                              "skipped (%)": 100 * (df.status == "skipped").mean(),
                              "speed mean (x)": ok.speed.mean()}
            return pd.DataFrame(rows).T


        table = lag_table(logs)
        table.round(2)
    """),
    code("""
        from matplotlib.figure import Figure
        from IPython.display import Image
        import io


        def show(fig):
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=90)
            return Image(buffer.getvalue())


        fig = Figure(figsize=(11, 3.8), layout="constrained")
        for ax, (name, df) in zip(fig.subplots(1, 2), (("without control", off), ("with control (max_lag_s 3, max_speedup 1.5)", on))):
            ok, skipped = df[df.status == "ok"], df[df.status == "skipped"]
            ax.plot(ok.t_speech_end / 60, ok.ear_to_ear_s, ".", ms=4, label="played segment")
            if len(skipped):
                ax.plot(skipped.t_speech_end / 60, skipped.lag_at_play_s, "x", color="red", label="skipped")
            if df is on:
                ax.axhline(MAX_LAG_S, ls="--", color="black", lw=1, label="target (max_lag_s)")
            ax.set_title(name)
            ax.set_xlabel("talk time when the sentence ended (min)")
            ax.set_ylabel("lag behind the speaker (s)")
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left")
        show(fig)
    """),
    code("""
        def p95(df, minute):
            ok = df[(df.status == "ok") & (df.audio_end_s // 60 == minute)]
            return ok.ear_to_ear_s.quantile(0.95)

        last_minute = int(off.audio_end_s.max() // 60)
        print(f"Without control the lag climbs steadily: p95 {p95(off, 0):.1f} s in the first minute, "
              f"{p95(off, last_minute):.1f} s in the last, {off.ear_to_ear_s.max():.0f} s at the end — each "
              f"sentence's 20 % of extra speech waits behind all the earlier ones.")
        print(f"With control it stays flat: p95 {p95(on, 0):.2f} s in the first minute, "
              f"{p95(on, last_minute):.2f} s in the last (target {MAX_LAG_S:g} s), "
              f"{(on.status == 'skipped').sum()} of {len(on)} segments skipped, "
              f"mean speed {on[on.status == 'ok'].speed.mean():.2f}x.")
    """),
    md("""
        Left, without control: the lag grows in a straight line for the whole talk (about a
        minute behind after five minutes) — it would keep growing for as long as the speaker
        talks. Right, with control: the lag stays around 2–3 s from start to end. What remains
        is the stages' own latency — the recognizer's final result alone is about 1.1 s (p95
        1.5 s) after the end of a sentence — plus short waits when a short sentence follows a
        long one. The plot below shows the speed the controller chose for each segment (it
        speeds up *before* the lag grows, from the predicted backlog).
    """),
    code("plots.plot_lag(on, max_lag_s=MAX_LAG_S, max_speedup=1.5)"),
    md("""
        ## Listen: natural speed and sped up

        The segment that was sped up most, rendered again at natural speed and at the speed the
        controller chose for it. The simulated voice is a speech-like buzz, so the same speed is
        then applied to real speech: eSpeak NG reading a Spanish sentence (the reference
        translation of a LibriVox clip) at natural speed, at the chosen speed with its own
        rate (what the pipeline asks of eSpeak NG and Polly), and time-stretched to that speed
        with Rubber Band (what a synthesizer without a rate of its own gets).
    """),
    code("""
        from IPython.display import Audio, Markdown

        from s2st_kit.engines.simulated import SimulatedSynthesizer
        from s2st_kit.workloads import CHARS_PER_S

        played = on[on.status == "ok"]
        fastest = played[played.speed == played.speed.max()]
        seg = fastest.loc[fastest.translation.str.len().idxmax()]  # the longest of the fastest
        speed = float(seg.speed)
        display(Markdown(f"Segment {seg.segment_id}: *{seg.translation}* — played at **{speed:.2f}×**, "
                         f"starting {seg.lag_at_play_s:.2f} s after the speaker finished it"))
        simulated = SimulatedSynthesizer(chars_per_s=CHARS_PER_S)
        for label, s in (("natural", 1.0), (f"{speed:.2f}x", speed)):
            pcm = simulated.render_at(seg.translation, "sim-es-1", s)
            display(Markdown(f"simulated voice, {label}: {len(pcm) / simulated.sample_rate:.2f} s"))
            display(Audio(pcm / 32768, rate=simulated.sample_rate, normalize=False))
    """),
    code("""
        from s2st_kit.audio.stretch import stretch_stream
        from s2st_kit.datasets import librivox_clips


        async def collect(chunks):
            return np.concatenate([c.samples() async for c in chunks])


        try:
            from s2st_kit.engines.offline.espeak import ESpeakSynthesizer
            espeak = ESpeakSynthesizer()
        except Exception as exc:  # eSpeak NG not installed: say so and go on
            espeak = None
            print(f"skipped: eSpeak NG is not available ({exc})")
        if espeak is not None:
            clips = librivox_clips()
            text = clips[0].translations["es"] if clips else "El señor tuvo entonces tiempo para considerar cuánto podía hacer por ellas."
            natural = await collect(espeak.synthesize(text, voice="es", language="es"))
            versions = {
                "natural speed": natural,
                f"{speed:.2f}x, eSpeak NG's own rate": await collect(
                    espeak.synthesize_at(text, voice="es", language="es", speed=speed)),
                f"{speed:.2f}x, time-stretched": await collect(
                    stretch_stream(espeak.synthesize(text, voice="es", language="es"), speed)),
            }
            display(Markdown(f"*{text}*"))
            for label, pcm in versions.items():
                shorter = f" ({len(natural) / len(pcm):.2f}x shorter)" if pcm is not natural else ""
                display(Markdown(f"eSpeak NG, {label}: {len(pcm) / espeak.sample_rate:.2f} s{shorter}"))
                display(Audio(pcm / 32768, rate=espeak.sample_rate, normalize=False))
            await espeak.aclose()
    """),
    md("""
        eSpeak NG's own rate shortens the sounds a little less than the rate grows (1.5× the
        words per minute gives about 1.4× shorter speech); the time-stretch is exact in
        duration and keeps the pitch. `python -m benchmarks --only drift` measures what the
        stretch costs a recognizer listening to it: about one WER point at 1.3× on the LibriVox
        clips.

        ## The trade-off: how fast may speech get?

        The same talk with four maximum speed-ups. With 1.0 the controller cannot speed up at
        all and skipping is its only way to catch up; the higher the cap, the fewer segments
        are left out and the closer the listener stays.
    """),
    code("""
        curve = table.loc[[f"max_speedup {s:g}" for s in SPEEDUPS], ["ear_to_ear p95 (s)", "skipped (%)", "speed mean (x)"]]
        curve.index = pd.Index(SPEEDUPS, name="max_speedup")

        fig = Figure(figsize=(7, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.plot(curve.index, curve["ear_to_ear p95 (s)"], "o-", color="#1f77b4", label="ear-to-ear p95 (s)")
        ax.axhline(MAX_LAG_S, ls="--", color="#1f77b4", lw=1)
        ax.set_xlabel("max_speedup (x natural speed)")
        ax.set_ylabel("ear-to-ear p95 (s)", color="#1f77b4")
        ax.set_xticks(SPEEDUPS)
        ax.grid(alpha=0.3)
        right = ax.twinx()
        right.plot(curve.index, curve["skipped (%)"], "s-", color="#d62728", label="skipped (%)")
        right.set_ylabel("skipped segments (%)", color="#d62728")
        right.set_ylim(bottom=0)
        ax.set_title(f"{len(talk.script)} sentences, translation 1.2x the talk, max_lag_s {MAX_LAG_S:g}")
        display(curve.round(2))
        show(fig)
    """),
    code("""
        a, b = curve.loc[1.0], curve.loc[1.5]
        print(f"Without speeding up (1.0) the controller skips {a['skipped (%)']:.1f} % of the segments and "
              f"the p95 is {a['ear_to_ear p95 (s)']:.2f} s; at 1.5 it skips {b['skipped (%)']:.1f} % with a p95 of "
              f"{b['ear_to_ear p95 (s)']:.2f} s; at 2.0 the p95 is {curve.loc[2.0, 'ear_to_ear p95 (s)']:.2f} s.")
    """),
    md("""
        Reading the curve: a talk whose translation is 1.2× longer needs at least 1.2× speed on
        average to keep up without leaving anything out. At 1.0 the controller can only skip,
        and it leaves out about a fifth of the talk; at 1.25, just above the 1.2 needed, it
        keeps up almost by speed alone (a segment or so skipped) but the lag rides above the
        target; at 1.5 nothing is skipped and the p95 comes under the target — what is left
        is the stages' own latency (recognizer, translator, synthesizer: the median lag of
        about 1.9 s), which no speed-up can remove, and short waits when a short sentence
        follows a long one. 2.0 shortens those waits further, at a cost in intelligibility: 1.5 is the
        default.
    """),
]

# --------------------------------------------------------------------------- 09 corpus evaluation


def corpus_eval_cells() -> list[tuple[str, str]]:
    """Notebook 09: a corpus evaluated on a Dask LocalCluster (latency and quality)."""
    return [
        md("""
            # Evaluate on a corpus (Dask)

            Researchers compare systems on standard test sets: CoVoST 2, FLEURS, CVSS-C
            (`s2st_kit.evaluation.read_corpus`, layouts `covost2`, `fleurs`, `cvss`,
            `manifest`). Here, a small manifest cut from the sample clips (nine English
            sentences, by offset and duration) is evaluated with the **simulated cloud-like
            stack**, each sentence a session **paced in real time** (latency scores need it), on a
            Dask `LocalCluster` of two worker processes, two sessions at once on each. The same
            call runs on a real cluster with `address="tcp://scheduler:8786"`, and from a shell
            as `s2st eval CORPUS --layout … --executor dask`.
        """),
        code(SETUP),
        code("""
            import json

            from s2st_kit.datasets import load_manifest
            from s2st_kit.evaluation import read_corpus

            rows = [
                {"id": f"{clip.id}-{i}", "audio": str(clip.path), "offset": max(0, u.start_s - 0.3),
                 "duration": u.end_s - u.start_s + 0.6, "source_text": u.text,
                 "target_text": u.translations["es"]}
                for clip in load_manifest() if clip.language == "en"
                for i, u in enumerate(clip.utterances)
            ]
            manifest = OUT / "sentences.jsonl"
            manifest.write_text("\\n".join(json.dumps(r) for r in rows) + "\\n")
            corpus = read_corpus(manifest, layout="manifest")
            len(corpus), corpus[0]
        """),
        md("""
            ## A LocalCluster and its dashboard

            Open the link to watch the tasks (one per sentence) and the workers. Each worker
            builds its engines **once** (a Dask worker plugin), not once per sentence.
        """),
        code("""
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
            print("Dask dashboard:", client.dashboard_link)
        """),
        code("""
            from s2st_kit import experiments

            result = await experiments.evaluate(
                corpus, engines="simulated", preset="cloud-like", target_lang="es",
                pace="realtime", concurrency=2, executor="dask", client=client,
                out=OUT / "corpus_eval",
            )
            print(f"ran {result.ran}, already finished {result.skipped}")
            print(result.summary.text())
        """),
        md("""
            The results folder is a Parquet dataset: run the cell again and every finished
            sentence is skipped. The simulated translator returns the reference, so BLEU is 100
            by construction: these engines are for latency what-ifs. Per sentence:
        """),
        code("""
            cols = ["utterance_id", "translation", "bleu", "StartOffset", "AL", "LAAL",
                    "EndOffset", "AL_CA"]
            result.utterances[cols]
        """),
        code("""
            from s2st_kit.evaluation import plot_eval

            fig = plot_eval(result.utterances)
            fig
        """),
        md("""
            ## Quality only: unpaced, offline engines

            `pace="none"` feeds the audio as fast as the engines take it: quality scores in a
            fraction of the time, but session seconds are no longer stream seconds, so the
            latency columns are flagged `latency_valid=False` and the summary says so.
        """),
        code("""
            try:
                quick = await experiments.evaluate(corpus[:3], engines="offline", pace="none",
                                                   out=None, concurrency=2, progress=False)
                print(quick.summary.text())
            except Exception as exc:  # the offline engines are optional
                print("offline engines not available:", exc)
        """),
        code("""
            client.close()
            cluster.close()
        """),
    ]


# --------------------------------------------------------------------------- 08 conversation


def conversation_cells() -> list[tuple[str, str]]:
    """Notebook 08: a two-party call (what each side hears, latency by direction) and a
    fan-out of one talk into three languages."""
    return [
        md("""
            # Conversations and many listeners

            **A call between two languages.** Party A speaks English, party B Spanish; each hears
            the other translated into their own language. A `Conversation` runs one pipeline per
            direction — each with its own recognizer stream in its speaker's language — on one
            session clock, writing one log with a `party` column (who spoke) and a `listener`
            column (who heard it). Here the call is a stereo recording (left = A, right = B),
            built from two sample clips: A asks, B answers a second after A finishes. It plays in
            real time (about 16 s).

            The offline recognizer (pocketsphinx) knows English only, so B's Spanish is
            "recognised" by the simulated recognizer scripted from the clip's transcript, with the
            cloud-like latency model (finals about 1.1 s after the speech ends, like Transcribe);
            Apertium translates both ways and eSpeak NG speaks. (With AWS, `Engines.create("aws")` gives
            each party a Transcribe stream in its own language.)
        """),
        code(SETUP),
        code("""
            import numpy as np
            import soundfile as sf
            from IPython.display import Audio, display

            from s2st_kit import (Conversation, Engines, MemorySink, PacedSink, Party,
                                  PipelineConfig, metrics, plots, split_stereo)
            from s2st_kit.audio import read_audio
            from s2st_kit.engines.simulated import ScriptUtterance, SimulatedRecognizer, engines_for_clip
            from s2st_kit.errors import S2STError

            DATA = ROOT / "data"
            a_speech, rate = read_audio(DATA / "en_help.wav", sample_rate=16000)
            b_speech, _ = read_audio(DATA / "es_casa.wav", sample_rate=16000)
            b_at = len(a_speech) / rate + 1.0  # B answers one second after A's last word (s)
            n = int((b_at + 1.0) * rate) + len(b_speech)
            left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
            left[: len(a_speech)] = a_speech
            right[int(b_at * rate) : int(b_at * rate) + len(b_speech)] = b_speech
            call = OUT / "call.wav"
            sf.write(call, np.stack([left, right], axis=1), rate, subtype="PCM_16")

            try:
                engines = Engines.create("offline")
            except S2STError as exc:  # no offline engines here: the simulated stack
                print(f"offline engines unavailable ({exc}); using the simulated engines")
                engines = Engines.create("simulated", options={"simulated": engines_for_clip(DATA / "en_help.wav").options()})
            spanish = SimulatedRecognizer(
                [ScriptUtterance(u.text, u.start_s + b_at, u.end_s + b_at)
                 for u in engines_for_clip(DATA / "es_casa.wav").script],
                preset="cloud-like",  # Transcribe-like finals: ~1.1 s after the speech ends
            )
            print(f"call.wav: {n / rate:.1f} s, stereo (left = A, English; right = B, Spanish)")
        """),
        code("""
            a_src, b_src = split_stereo(call, realtime=True)
            a_hears, b_hears = MemorySink(), MemorySink()
            talk = Conversation(
                engines,
                PipelineConfig(chunk_ms=100),
                a=Party("en", source=a_src, sink=PacedSink(a_hears)),
                b=Party("es", source=b_src, sink=PacedSink(b_hears), recognizer=spanish),
                log_path=OUT / "call.jsonl",
            )
            df = (await talk.run()).to_pandas()
            df[["party", "listener", "segment_id", "transcript", "translation", "ear_to_ear_s"]]
        """),
        md("""
            ## What each side hears

            A's loudspeaker plays only B's words, in English; B's plays only A's, in Spanish.
        """),
        code("""
            NAMES = {"en": "English", "es": "Spanish"}
            for side, sink, other in (("A", a_hears, "b"), ("B", b_hears, "a")):
                rows = df[df.party == other]
                lang = NAMES[rows.target_lang.iloc[0]] if len(rows) else "nothing"
                print(f"{side} hears {sink.duration_s:.1f} s of {lang}: "
                      f"{len(rows)} segments from {other.upper()}")
                if sink.duration_s:
                    display(Audio(sink.audio(), rate=sink.sample_rate))
        """),
        md("""
            ## Latency by direction

            `metrics.summary_by(df, "party")`: ear-to-ear latency (`t_play_start − t_speech_end`,
            s) and stage medians per speaking party. Below, the timeline: when each party spoke
            and when the other heard the translation.
        """),
        code("""
            display(metrics.summary_by(df, "party").round(2))
            display(plots.plot_latency_by(df, by="party"))
            plots.plot_branch_timeline(df, by="listener")
        """),
        md("""
            ## Fan-out: one talk, three languages

            One recognizer stream and one commit policy feed one branch per listener — its own
            translator call, synthesizer, lag control and loudspeaker. `Pipeline(...,
            listeners=[Listener("es", sink=...), ...])`; the log has a row per (segment,
            listener). Offline: Apertium's en → es, ca, eo with eSpeak NG voices, paced in real
            time (about 8 s). (The CLI: `s2st run talk.wav --to es,ca,eo --out-dir DIR`.)
        """),
        code("""
            from s2st_kit import FileSource, Listener, Pipeline

            TARGETS = ("es", "ca", "eo") if engines.recognizer.name == "pocketsphinx" else ("es", "fr", "de")
            heard = {t: MemorySink() for t in TARGETS}
            pipe = Pipeline(
                engines,
                PipelineConfig(source_lang="en", target_lang=TARGETS[0]),
                source=FileSource(DATA / "en_home.wav", realtime=True),
                listeners=[Listener(t, sink=PacedSink(heard[t])) for t in TARGETS],
            )
            fan = (await pipe.run()).to_pandas()
            print(f"{fan.segment_id.nunique()} segments × {len(TARGETS)} listeners = {len(fan)} rows, "
                  f"one recognizer stream")
            for t in TARGETS:
                print(f"{t}: {heard[t].duration_s:.1f} s — " + " ".join(fan[fan.listener == t].translation))
                display(Audio(heard[t].audio(), rate=heard[t].sample_rate))
        """),
        code("""
            display(metrics.summary_by(fan, "listener").round(2))
            plots.plot_branch_timeline(fan)
        """),
        code("""
            await engines.aclose()
        """),
    ]


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart": QUICKSTART,
    "02_live_microphone": LIVE,
    "03_latency_analysis": LATENCY,
    "04_chunk_size_sweep": SWEEP,
    "05_voices": VOICES,
    "06_aws": AWS,
    "07_long_speech": LONG_SPEECH,
    "08_conversation": conversation_cells(),
    "09_corpus_eval": corpus_eval_cells(),
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook with stable cell ids and no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells):
        cell_id = f"{name[:2]}-{i:02d}"
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source, id=cell_id))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source, id=cell_id))
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook differs")
    args = parser.parse_args(argv)
    NOTEBOOKS_DIR.mkdir(exist_ok=True)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = NOTEBOOKS_DIR / f"{name}.ipynb"
        text = nbformat.writes(build(name, cells)) + "\n"
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        sys.stderr.write(f"stale notebooks (run scripts/make_notebooks.py): {', '.join(stale)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
