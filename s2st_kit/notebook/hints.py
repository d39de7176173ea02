"""What the panel says about the chosen input file and about settings that make no sense
together, in plain Python (no widgets).

* :func:`input_file` / :func:`input_file_problem`: the file a session reads is exactly the
  text of the path box (spaces around it and ``~`` aside); a path that does not exist is a
  problem shown before Start and the reason Start refuses.
* :func:`setting_hints`: settings that run but give nonsense, e.g. a clip known to be English
  recognised as French, or the simulated translator asked for a language it has no
  reference translation for (it then shows ``[ja] <the source text>``).

Hints warn; they never change a choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..datasets import Clip

if TYPE_CHECKING:
    from .model import Selection

__all__ = ["input_file", "input_file_problem", "setting_hints"]

#: Recognizer bundles that honour ``Selection.stability`` (partial-result stabilisation):
#: only Amazon Transcribe streaming has it (``partial_results_stability``); pocketsphinx and
#: the simulated recognizer ignore it.
STABILITY_BUNDLES: tuple[str, ...] = ("aws",)


def input_file(text: str | None) -> Path | None:
    """The file named by the path box's ``text`` (surrounding spaces removed, ``~``
    expanded); ``None`` when it is empty."""
    if text is None or not text.strip():
        return None
    return Path(text.strip()).expanduser()


def input_file_problem(text: str | None) -> str | None:
    """Why a session cannot read ``text`` as its input file (``None``: it can try)."""
    path = input_file(text)
    if path is None:
        return "no input file: choose a clip or type the path of an audio file"
    if not path.exists():
        return f"no such file: {text!s} does not exist — correct the path or choose a clip"
    if not path.is_file():
        return f"{path} is a folder, not an audio file — type the path of an audio file"
    return None


def setting_hints(sel: Selection, clip: Clip | None, *, language_name: dict[str, str]) -> list[str]:
    """Warnings about choices that run but make little sense together.

    clip: the sample clip chosen as input (its language and references are known), ``None``
    for any other file or a live input. language_name: ISO 639-1 code → readable name.
    """

    def name(code: str) -> str:
        return language_name.get(code, code)

    hints: list[str] = []
    live = sel.input_kind != "file"
    if clip is not None and not live and sel.source_lang not in ("auto", clip.language):
        hints.append(
            f"the clip is {name(clip.language)} speech but “From” is {name(sel.source_lang)}: "
            f"set From to {name(clip.language)}, or the recognizer hears it as the wrong language"
        )
    if sel.asr == "simulated" and (live or clip is None):
        hints.append(
            "the simulated recognizer does not listen: without a sample clip it emits "
            "placeholder words where it detects speech"
        )
    if sel.mt == "simulated":
        refs = set(clip.translations) if clip is not None else set()
        for target in sel.targets:
            if target in refs:
                continue
            what = f"of this clip into {name(target)}" if clip else "of this input"
            hints.append(
                f"the simulated translator has no reference translation {what}: it shows the "
                f"source text marked [{target}]"
            )
            if clip is None:
                break  # one hint says it for every target
    return hints
