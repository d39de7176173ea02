"""Commit policies are pure: table tests from hypotheses to commits."""

from __future__ import annotations

import itertools

import pytest

from s2st_kit.errors import ConfigError
from s2st_kit.policy import make_policy
from s2st_kit.records import Transcript, Word


def hyp(words, *, final=False, uid=0, stable=0, timed=True):
    """Transcript from a word list; the first ``stable`` words are stable; word i spans [i, i+1) s."""
    ws = tuple(
        Word(w, float(i), float(i + 1), stable=final or i < stable) for i, w in enumerate(words)
    )
    return Transcript(
        text=" ".join(words), is_final=final, start_s=0.0, end_s=float(len(words)),
        utterance_id=uid, stable_text=" ".join(words[:stable]) if not final else " ".join(words),
        words=ws if timed else (),
    )  # fmt: skip


def run(policy, hyps):
    out = []
    for h in hyps:
        out.append([c.text for c in policy.update(h)])
    return out


S = "Hello there, how are you today? I am fine.".split()

CASES = [
    # (policy, min words, hypotheses, expected commits per hypothesis)
    ("final", 3, [hyp(S[:3]), hyp(S[:6], stable=4), hyp(S, final=True)], [[], [], [" ".join(S)]]),
    # stable: commit only a stable prefix ending at punctuation, with >= min words
    (
        "stable", 3,
        [hyp(S[:3], stable=2), hyp(S[:6], stable=5), hyp(S[:8], stable=7), hyp(S, final=True)],
        [[], [], ["Hello there, how are you today?"], ["I am fine."]],
    ),
    # stable with min 2: "Hello there," is committable as soon as it is stable
    (
        "stable", 2,
        [hyp(S[:3], stable=2), hyp(S[:7], stable=6), hyp(S, final=True)],
        [["Hello there,"], ["how are you today?"], ["I am fine."]],
    ),
    # stable ignores unstable punctuation
    ("stable", 1, [hyp(S[:6], stable=0), hyp(S, final=True)], [[], [" ".join(S)]]),
    # local agreement: prefix shared by two consecutive hypotheses
    (
        "local-agreement", 2,
        [hyp(["Hello", "the"]), hyp(["Hello", "there,", "ho"]), hyp(["Hello", "there,", "how", "are"]),
         hyp(["Hello", "there,", "how", "are", "you"]), hyp(S, final=True)],
        [[], [], ["Hello there,"], ["how are"], ["you today? I am fine."]],
    ),
    # a revised word after commit: later commits continue by word count, never repeat
    (
        "local-agreement", 1,
        [hyp(["a", "b", "c"]), hyp(["a", "b", "c", "d"]), hyp(["a", "B", "c", "d", "e"], final=True)],
        [[], ["a b c"], ["d e"]],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "min_words", "hyps", "expected"), CASES)
def test_policy_table(name, min_words, hyps, expected):
    assert run(make_policy(name, min_commit_words=min_words), hyps) == expected


@pytest.mark.parametrize("name", ["final", "stable", "local-agreement"])
def test_every_word_committed_once(name):
    p = make_policy(name, min_commit_words=1)
    commits = []
    for n in range(1, len(S) + 1):
        commits += p.update(hyp(S[:n], stable=max(0, n - 2)))
    commits += p.update(hyp(S, final=True))
    assert " ".join(c.text for c in commits) == " ".join(S)
    assert commits[-1].closes_utterance
    assert all(not c.closes_utterance for c in commits[:-1])
    # word spans are contiguous and cover the utterance
    assert commits[0].first_word == 0 and commits[-1].end_word == len(S)
    for a, b in itertools.pairwise(commits):
        assert a.end_word == b.first_word and a.audio_end_s <= b.audio_start_s


def test_audio_span_from_word_times():
    p = make_policy("stable", min_commit_words=2)
    (c,) = p.update(hyp(S[:4], stable=3))
    assert (c.text, c.audio_start_s, c.audio_end_s) == ("Hello there,", 0.0, 2.0)


def test_untimed_words_spread_over_span():
    p = make_policy("final")
    (c,) = p.update(hyp(["aa", "bb"], final=True, timed=False))
    assert c.audio_start_s == 0.0 and c.audio_end_s == pytest.approx(2.0)


def test_utterances_are_independent_and_finish_flushes():
    p = make_policy("final")
    assert p.update(hyp(["one", "two"], uid=0)) == []
    assert p.update(hyp(["three"], uid=1)) == []
    assert [c.text for c in p.update(hyp(["three", "four"], uid=1, final=True))] == ["three four"]
    flushed = p.finish()
    assert [(c.utterance_id, c.text, c.closes_utterance) for c in flushed] == [(0, "one two", True)]
    assert p.finish() == []


@pytest.mark.parametrize("name", ["final", "stable", "local-agreement"])
def test_late_hypothesis_after_final_is_ignored(name):
    p = make_policy(name, min_commit_words=1)
    p.update(hyp(["a."], final=True))
    assert p.update(hyp(["a.", "b."], stable=2)) == []
    assert p.update(hyp(["a.", "b."], stable=2)) == []


def test_empty_final_commits_nothing():
    assert make_policy("final").update(hyp([], final=True)) == []


def test_unknown_policy():
    with pytest.raises(ConfigError, match="choose one of final, stable, local-agreement"):
        make_policy("eager")


def test_text_spelling_wins_over_raw_word_tokens():
    ws = (Word("i", 0, 1), Word("think", 1, 2))
    t = Transcript("I think.", True, 0.0, 2.0, 0, "I think.", words=ws)
    (c,) = make_policy("final").update(t)
    assert c.text == "I think." and c.audio_end_s == 2.0
