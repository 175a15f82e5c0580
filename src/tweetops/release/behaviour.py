"""Behavioural checks of a trained model (Made-With-ML style): minimum functionality, invariance, direction.

One list of checks serves both tests/model/test_behaviour.py (which asserts they all pass) and the
model card (which reports what each one gave), so the card never claims a check the tests do not run.
Each check takes `proba`: texts -> class probabilities in LABELS order (a Pipeline's predict_proba).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tweetops.model import LABELS

Proba = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class MinimumFunctionality:
    text: str
    label: str
    kind = "minimum functionality"

    @property
    def name(self) -> str:
        return f"{self.text!r} is {self.label}"

    def run(self, proba: Proba) -> Outcome:
        got = LABELS[int(np.argmax(proba([self.text])[0]))]
        return Outcome(self.kind, self.name, got == self.label, f"predicted {got}")


@dataclass(frozen=True)
class Invariance:
    """Swapping a mention or a URL must not change the label; swapping only mentions, not even the
    probabilities (the normaliser maps every mention to one token)."""

    a: str
    b: str
    kind = "invariance"

    @property
    def name(self) -> str:
        return f"{self.a!r} and {self.b!r} get the same label"

    def run(self, proba: Proba) -> Outcome:
        p = proba([self.a, self.b])
        first, second = (LABELS[i] for i in p.argmax(axis=1))
        same = bool(np.allclose(p[0], p[1], rtol=0, atol=1e-9)) or "url" in self.b
        return Outcome(self.kind, self.name, first == second and same,
                       f"{first} vs {second} (largest probability change {np.abs(p[0] - p[1]).max():.3g})")


@dataclass(frozen=True)
class Direction:
    """Editing the text must move one class's probability the expected way."""

    text: str
    edited: str
    label: str
    rises: bool
    kind = "direction"

    @property
    def name(self) -> str:
        return f"P({self.label}) {'rises' if self.rises else 'falls'} from {self.text!r} to {self.edited!r}"

    def run(self, proba: Proba) -> Outcome:
        before, after = proba([self.text, self.edited])[:, LABELS.index(self.label)]
        passed = after > before if self.rises else after < before
        return Outcome(self.kind, self.name, bool(passed), f"{before:.3f} -> {after:.3f}")


def negate(text: str) -> str:
    return text.replace("I like", "I do not like").replace(" was ", " was not ").replace(" is ", " is not ")


CHECKS = (
    MinimumFunctionality("I love this so much, best day ever :)", "positive"),
    MinimumFunctionality("This is awful, I hate it. Worst service ever.", "negative"),
    MinimumFunctionality("The meeting is moved to 3pm on Tuesday.", "neutral"),
    # Long texts: counts far beyond any tweet's must not turn praise into its opposite (lexicon.VaderFeatures).
    MinimumFunctionality("great " * 40, "positive"),
    MinimumFunctionality("What a wonderful film, I loved every minute of it. " * 10, "positive"),
    Invariance("@anonymous this movie was great http://url_removed",
               "@someone_else this movie was great https://t.co/xyz"),
    Invariance("@anonymous I am so tired of this traffic", "@bob I am so tired of this traffic"),
    Invariance("Loved the show tonight!", "Loved the show tonight! http://url_removed"),
    *(Direction(text, negate(text), "positive", rises=False)
      for text in ("I like the new phone", "the food was good", "this update is great")),
    *(Direction(text, f"{text} {face}", label, rises=True)
      for text in ("just got home", "watching the game with friends")
      for face, label in ((":(", "negative"), (":)", "positive"))),
)


def run_checks(proba: Proba) -> list[Outcome]:
    return [check.run(proba) for check in CHECKS]
