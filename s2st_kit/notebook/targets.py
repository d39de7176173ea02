"""Several target languages in the control panel, in plain Python (no widgets).

The panel's first target (``Selection.target_lang``, the "To" list) is the *primary*
listener: it plays on the chosen output, with the chosen voice, exactly as a one-target
session. ``Selection.extra_targets`` ("Also into") adds one listener per language: one
fan-out :class:`~s2st_kit.pipeline.Pipeline` (one recognizer stream) feeds a
:class:`~s2st_kit.pipeline.Listener` per target. The extra listeners play into memory at
the input's pace (their timings are as realistic as the primary's on the "no device"
output) and get a player each when the session ends. Each extra target speaks with the
synthesizer's default voice for its language unless the user picks another
(``Selection.extra_voices``).

* :func:`resolve_extra_targets`: one step of :meth:`PanelModel.update` — extra targets the
  engines cannot serve are left out (with a hint saying so), voices resolved.
* :func:`session_listeners`: the listeners (and the memories the extra ones play into) for
  a session.
* :func:`check_targets`: every (target, voice) validated before a session opens its input;
  a refusal names the target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..audio import MemorySink, PacedSink
from ..config import PipelineConfig
from ..engines import Engines
from ..engines.protocols import AudioSink
from ..errors import ConfigError
from ..pipeline import Listener, validate
from ..records import Voice

if TYPE_CHECKING:
    from .model import EngineCatalog, Selection

__all__ = [
    "ExtraTargets",
    "check_targets",
    "normalize_target_changes",
    "resolve_extra_targets",
    "session_listeners",
]


@dataclass(frozen=True, slots=True)
class ExtraTargets:
    """What :func:`resolve_extra_targets` found: per kept extra target its voices (in the
    synthesizer's order), and a note per target left out."""

    voices: dict[str, list[Voice]]
    left_out: list[str]


def normalize_target_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``extra_targets`` as a tuple (a list or a comma-separated string is accepted) and
    ``extra_voices`` as ``((target, voice), …)`` (a mapping is accepted)."""
    out = dict(changes)
    targets = out.get("extra_targets")
    if isinstance(targets, str):
        out["extra_targets"] = tuple(t.strip() for t in targets.split(",") if t.strip())
    elif targets is not None:
        out["extra_targets"] = tuple(targets)
    voices = out.get("extra_voices")
    if isinstance(voices, Mapping):
        out["extra_voices"] = tuple(voices.items())
    elif voices is not None:
        out["extra_voices"] = tuple((str(t), str(v)) for t, v in voices)
    return out


def resolve_extra_targets(
    catalog: EngineCatalog,
    sel: Selection,
    targets: Sequence[str],
    *,
    tts_options: Mapping[str, Any],
    label: Callable[[str], str],
) -> tuple[Selection, ExtraTargets]:
    """Keep the extra targets that are among ``targets`` (the engines' valid targets) and
    not the primary one, each once, in the order chosen; give each its chosen voice when
    the synthesizer has it, else its default voice. ``label``: code → display name."""
    kept, left_out = [], []
    for code in dict.fromkeys(sel.extra_targets):
        if code == sel.target_lang:
            continue  # already the primary listener
        if code in targets:
            kept.append(code)
        else:
            left_out.append(
                f"“Also into” {label(code)} is left out: {sel.mt} (translation) does not reach "
                f"it from {label(sel.source_lang)} with a voice of {sel.tts} (synthesis)"
            )
    chosen = dict(sel.extra_voices)
    voices, resolved = {}, []
    for code in kept:
        voices[code] = catalog.voices(sel.tts, code, tts_options=tts_options)
        ids = [v.id for v in voices[code]]
        voice = chosen.get(code)
        if voice not in ids:
            voice = catalog.default_voice(sel.tts, code, voices[code], tts_options=tts_options)
        if voice is not None:
            resolved.append((code, voice))
    sel = replace(sel, extra_targets=tuple(kept), extra_voices=tuple(resolved))
    return sel, ExtraTargets(voices, left_out)


def session_listeners(
    sel: Selection, sink: AudioSink
) -> tuple[list[Listener] | None, dict[str, MemorySink]]:
    """The session's listeners: the primary target on ``sink`` (the chosen output), each
    extra target into a :class:`MemorySink` paced like the input (a file's pace, else real
    time; unpaced for "as fast as possible"). ``(None, {})`` with one target: the session
    is a plain one-listener pipeline, as before."""
    if not sel.extra_targets:
        return None, {}
    voices = dict(sel.extra_voices)
    pace = sel.pace if sel.input_kind == "file" else 1.0
    listeners = [Listener(sel.target_lang, sink=sink, voice=sel.voice)]
    memories: dict[str, MemorySink] = {}
    for code in sel.extra_targets:
        memory = memories[code] = MemorySink()
        out: AudioSink = PacedSink(memory, speed=pace) if pace > 0 else memory
        listeners.append(Listener(code, sink=out, voice=voices.get(code)))
    return listeners, memories


def check_targets(
    engines: Engines, config: PipelineConfig, sel: Selection, *, label: Callable[[str], str]
) -> list[str]:
    """Validate the language pair and voice of every target of ``sel`` (the pipeline's own
    check, :func:`s2st_kit.pipeline.validate`); returns the voice ids. With several
    targets a refusal names the target it is about (``"French (fr): …"``).

    Blocking (a cloud voice catalogue may be asked): call it from a thread."""
    voices = dict(sel.extra_voices)
    checks = [(sel.target_lang, sel.voice), *((t, voices.get(t)) for t in sel.extra_targets)]
    found = []
    for code, voice in checks:
        try:
            found.append(validate(engines, config.replace(target_lang=code, voice=voice)))
        except ConfigError as exc:
            if len(checks) == 1:
                raise
            raise type(exc)(f"{label(code)}: {exc}") from exc
    return found
