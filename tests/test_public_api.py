"""The public API is pinned: changing it is a deliberate act."""

import s2st_kit

EXPECTED = {
    "SEGMENT_COLUMNS", "AudioChunk", "AudioError", "AudioFormat", "AudioFormatError", "Commit",
    "ConfigError", "Conversation", "DeviceError", "EngineError", "EngineNotInstalledError", "EngineTimeoutError",
    "EngineUnavailableError", "Engines", "FileSource", "Listener", "MemorySink", "MemorySource", "PacedSink", "Party",
    "Pipeline", "PipelineConfig", "PipelineError", "PipelineState", "PipelineStateError",
    "PipelineStats", "QueueOverflowError", "RetryPolicy", "S2STError", "Segment", "SegmentLog", "SessionClock",
    "StreamClosedError", "ThrottledError", "Transcript", "Translation", "UnsupportedLanguageError",
    "UnsupportedVoiceError", "Voice", "WavSink", "Word", "WordMark", "__version__", "make_policy", "split_stereo",
    "validate",
}  # fmt: skip


def test_all_is_pinned():
    assert set(s2st_kit.__all__) == EXPECTED
    for name in s2st_kit.__all__:
        assert hasattr(s2st_kit, name), name


SUBMODULES = {
    "s2st_kit.conversation": {"Conversation", "Party"},
    "s2st_kit.pipeline": {"Listener", "Pipeline", "PipelineState", "PipelineStats", "validate"},
    "s2st_kit.lag": {"CATCH_UPS", "LIVE_MAX_LAG_S", "CatchUp", "LagController", "LagDecision", "LagState"},
    "s2st_kit.retry": {"RestartBudget", "RetryPolicy", "mark_spent", "retries_spent", "retry_call"},
    "s2st_kit.bridge": {"ThreadChannel", "call_soon", "executor"},
    "s2st_kit.words": {
        "InputClock", "PlayTimeline", "SegmentWords", "Side", "SpokenWord", "WORD_COLUMNS", "WordLog",
        "WordRow", "estimate_marks", "mark_spans", "segment_rows", "source_rows", "words_path",
    },
    "s2st_kit.captions": {
        "CaptionFormat", "Cue", "build_cues", "load_session", "load_words", "to_srt", "to_vtt",
        "write_captions", "write_heard_wav", "write_session_captions",
    },
    "s2st_kit.word_lag": {"WordLagSummary", "plot_word_lag", "word_lag", "word_lag_summary", "write_word_lag"},
    "s2st_kit.evaluation": {
        "LATENCY_COLUMNS", "LAYOUTS", "CorpusError", "CorpusUtterance", "EnginePool", "EvalResult",
        "EvalSettings", "EvalSummary", "Executor", "Layout", "Pace", "UtteranceResult", "evaluate",
        "plot_eval", "read_corpus", "read_covost2", "read_cvss", "read_fleurs", "read_manifest",
        "run_utterance", "summarize",
    },
    "s2st_kit.engines.protocols": {
        "AudioSink", "AudioSource", "PacedSource", "Recognizer", "SupportsBrevity",
        "SupportsCaptureDelay", "SupportsCheckPair", "SupportsConfigure", "SupportsLoad",
        "SupportsLoadPairs", "SupportsRate", "SupportsVoiceCatalogue", "SupportsWordTiming", "Synthesizer", "Translator",
    },
}  # fmt: skip


def test_submodule_all_is_pinned():
    import importlib

    for name, expected in SUBMODULES.items():
        module = importlib.import_module(name)
        assert set(module.__all__) == expected, name
        for attr in module.__all__:
            assert hasattr(module, attr), f"{name}.{attr}"


def test_error_tree():
    e = s2st_kit
    assert issubclass(e.UnsupportedLanguageError, e.ConfigError)
    assert issubclass(e.ConfigError, e.S2STError) and issubclass(e.ConfigError, ValueError)
    assert issubclass(e.ThrottledError, e.EngineError) and e.ThrottledError.retryable
    assert not e.EngineError.retryable
    assert issubclass(e.AudioFormatError, e.AudioError)
    assert issubclass(e.QueueOverflowError, e.PipelineError)


def test_core_does_not_import_cloud_sdks():
    import subprocess
    import sys

    code = "import s2st_kit, sys; print(any(m.split('.')[0] in ('boto3','botocore','amazon_transcribe') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
