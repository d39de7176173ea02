"""Utterance tracking: what the pipeline knows about each utterance between partials and final."""

from __future__ import annotations

from dataclasses import dataclass

from ..records import Transcript

__all__ = ["Utterance", "UtteranceTracker"]


@dataclass(slots=True)
class Utterance:
    """One utterance as the pipeline numbers it (unique across recognizer restarts).

    uid: session-wide utterance id.
    base_s: stream position (s) where the recognizer stream that heard it began; the
        recognizer's times are relative to it.
    t_first_partial: session time (s) of its first partial hypothesis, if any.
    n_partials: partial hypotheses seen.
    last: the latest hypothesis (partial or final).
    """

    uid: int
    base_s: float = 0.0
    t_first_partial: float | None = None
    n_partials: int = 0
    last: Transcript | None = None


class UtteranceTracker:
    """Gives each (recognizer stream, utterance id) a session-wide id; keeps the open ones.

    A recognizer numbers utterances per stream; after a restart its ids begin again, so
    :meth:`new_stream` starts a fresh mapping while the session-wide ids keep counting.
    """

    def __init__(self) -> None:
        self._next = 0
        self._ids: dict[int, int] = {}
        self._open: dict[int, Utterance] = {}

    def new_stream(self) -> None:
        """A new recognizer stream begins: its utterance ids are new utterances."""
        self._ids = {}

    def on_transcript(self, tr: Transcript, base_s: float, now: float) -> Utterance:
        """Record hypothesis ``tr`` (received at session time ``now``); returns its utterance.

        A final closes the utterance (it is no longer :meth:`open`).
        """
        if tr.utterance_id not in self._ids:
            self._ids[tr.utterance_id] = self._next
            self._next += 1
        uid = self._ids[tr.utterance_id]
        utt = self._open.get(uid) or Utterance(uid)
        self._open[uid] = utt
        utt.last, utt.base_s = tr, base_s
        if not tr.is_final:
            utt.n_partials += 1
            if utt.t_first_partial is None:
                utt.t_first_partial = now
        return utt

    def close(self, uid: int) -> None:
        """The utterance got its final result."""
        self._open.pop(uid, None)

    def get(self, uid: int) -> Utterance:
        """The open utterance ``uid`` (a blank one if it is closed or unknown)."""
        return self._open.get(uid) or Utterance(uid)

    def abandon(self) -> list[Utterance]:
        """The open utterances, oldest first, forgotten (their stream died)."""
        lost = [self._open[uid] for uid in sorted(self._open)]
        self._open.clear()
        return lost
