"""Plain words for what the API reports: the model's version and status, what each comparison means, and
which parts of the model card are for engineers. Plain Python (no Streamlit), so it is tested without a browser.
"""
from __future__ import annotations

import datetime
import re

RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"  # the run ids training gives by default, in UTC
# What each comparison is, for someone who never trained a model.
MODEL_NAMES = {"this model": "this model", "vader_compound": "the lexicon rule VADER",
               "majority_class": "always the most common label",
               "supervised_only": "the same model without pseudo-labels",
               "linear_model": "this model's word-counting half alone"}
ABOUT = {"vader_compound": "a fixed list of word scores written by people, with no training on these tweets",
         "majority_class": "what you get without reading the tweet at all",
         "supervised_only": "trained only on the tweets people labelled, to show what the tweets labelled "
                            "automatically (pseudo-labels) add",
         "linear_model": "without the pretrained language model it is averaged with"}
SCORE_NAME = "balanced score (macro-F1)"
SCORE_MEANING = ("The balanced score (macro-F1) runs from 0 to 1 and counts negative, neutral and positive tweets "
                 "equally, so a model that is often right only because most tweets share one label scores low.")
# A model card line an engineer needs and nobody else does: a file hash, a file path or a commit.
TECHNICAL_LINE = re.compile(r"sha256|git commit|`[^`\s]*/[^`\s]*`", re.IGNORECASE)
TECHNICAL_SECTIONS = {"Versions"}


def version_label(run_id: str) -> str:
    """20261201T222643Z -> "1 Dec 2026, 22:26 UTC"; a run id that is not a time is shown as it is."""
    try:
        moment = datetime.datetime.strptime(run_id, RUN_ID_FORMAT)
    except (TypeError, ValueError):
        return str(run_id)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def status_label(champion: bool | None) -> str:
    """What the API says about the served model: the published champion, another one, or it cannot tell."""
    return {True: "in production (champion)", False: "candidate"}.get(champion, "not known here")


def model_name(key: str) -> str:
    return MODEL_NAMES.get(key, key.replace("_", " "))


def comparison_sentences(manifest: dict) -> list[str]:
    """One sentence per baseline: what it is, its score, and how this model compares (or why they are equal)."""
    score = (manifest.get("metrics") or {}).get("macro_f1")
    pseudo_labels_used = (manifest.get("ablation") or {}).get("used", True)
    sentences = []
    for key, values in sorted((manifest.get("baselines") or {}).items()):
        rival = values.get("macro_f1")
        name = model_name(key)
        about = f", {ABOUT[key]}" if key in ABOUT else ""
        if key == "majority_class" and _most_common(values):
            about = f" (here: {_most_common(values)}){about}"
        if not isinstance(score, (int, float)) or not isinstance(rival, (int, float)):
            outcome = "has no score to compare"
        elif key == "supervised_only" and not pseudo_labels_used:
            outcome = (f"scores {rival:.3f}, the same as this model: no unlabelled tweet was confident enough to be "
                       "pseudo-labelled, so the two are one model and their bars are equal")
        elif round(score, 3) == round(rival, 3):
            outcome = f"scores {rival:.3f}, the same as this model"
        else:
            direction = "higher" if score > rival else "lower"
            outcome = f"scores {rival:.3f}; this model is {abs(score - rival):.3f} {direction}"
        sentences.append(f"{name[:1].upper()}{name[1:]}{about}: {outcome}.")
    return sentences


def _most_common(values: dict) -> str | None:
    """The label the majority baseline always answers: the one class it finds every tweet of."""
    found = [label for label, scores in (values.get("per_class") or {}).items() if scores.get("recall") == 1.0]
    return found[0] if len(found) == 1 else None


def split_card(markdown: str) -> tuple[str, str]:
    """(what anyone can read, the technical part): lines holding hashes, paths or commits, and the Versions
    section, move to the second part under their own section's heading; a heading left empty is dropped."""
    plain, technical = [], []
    for section in re.split(r"(?m)^(?=## )", markdown):
        heading, _, body = section.partition("\n") if section.startswith("## ") else ("", "", section)
        lines = body.split("\n")
        if heading[3:].strip() in TECHNICAL_SECTIONS:
            moved, kept = lines, []
        else:
            moved = [line for line in lines if TECHNICAL_LINE.search(line)]
            kept = [line for line in lines if not TECHNICAL_LINE.search(line)]
        for part, chosen in ((plain, kept), (technical, moved)):
            if any(line.strip() for line in chosen):
                part.append("\n".join(([heading] if heading else []) + chosen).strip())
    return "\n\n".join(plain), "\n\n".join(technical)
