import re

import numpy as np
import pandas as pd
import pytest

from tweetops.model.fast_path import fast_predict_proba
from tweetops.serving.inference import InputError, Limits, load_predictor, validate_batch, validate_text
from tweetops.serving.schemas import text_schema


def test_the_fast_path_equals_the_pipeline_exactly(trained_bundle, raw_path):
    predictor = load_predictor(trained_bundle)
    texts = pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"],
                        quoting=3)["text"].tolist()[:500]
    expected = predictor.bundle.model.predict_proba(texts)
    assert np.array_equal(fast_predict_proba(predictor.bundle.model, texts), expected)
    assert np.array_equal(predictor.predict_proba(texts[:1]), expected[:1])
    answers = predictor.predict(texts[:3])
    assert [a["label"] for a in answers] == list(np.array(predictor.labels)[expected[:3].argmax(axis=1)])
    assert predictor.predict([]) == []


@pytest.mark.parametrize("value, message", [
    (None, "text must be a string, got NoneType"),
    (42, "text must be a string, got int"),
    ("   ", "text is empty"),
    ("\u200b \ufeff\u00ad\x7f", "text is empty"),  # zero-width space, BOM, soft hyphen, DEL: nothing visible
    ("x" * 1001, "text has 1,001 characters; the limit is 1,000"),
])
def test_text_validation_says_what_to_fix(value, message):
    with pytest.raises(InputError, match=message):
        validate_text(value, Limits().max_chars)


def test_batch_validation_names_the_bad_item():
    assert validate_batch(["a", "b"], Limits()) == ["a", "b"]
    with pytest.raises(InputError, match=r"texts\[1\]: text is empty"):
        validate_batch(["fine", ""], Limits())
    with pytest.raises(InputError, match="the limit is 1,000 per request"):
        validate_batch(["a"] * 1001, Limits())


def test_the_schemas_pattern_accepts_exactly_the_texts_validate_text_accepts():
    """Every character of the Basic Multilingual Plane alone, thrice, and around a letter: a schema-driven client
    and the server agree on each. Lone surrogates aside: JSON Schema has no way to name them (the server refuses
    them, tests/api/test_bad_input.py)."""
    pattern, limit = re.compile(text_schema(Limits())["pattern"]), Limits().max_chars

    def accepted(text):
        try:
            return validate_text(text, limit) == text
        except InputError:
            return False

    disagree = [f"U+{code:04X}" for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF
                for text in (chr(code), chr(code) * 3, f"{chr(code)}a{chr(code)}")
                if bool(pattern.match(text)) != accepted(text)]
    assert disagree == []
    assert not accepted("\u200b") and accepted("a\u200b") and not accepted("a\x00")


def test_blank_is_whitespace_controls_and_unicodes_default_ignorables():
    """BLANK against the regex module's Unicode tables: every default-ignorable character of the BMP (U+3164 and
    U+FE0F alone were answered and recorded before), and no visible mark (U+06DD and the Arabic number signs
    were refused as empty)."""
    regex = pytest.importorskip("regex")
    from tweetops.model.normalizer import BLANK

    ignorable = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{White_Space}\p{Cc}]")
    expected = {chr(c) for c in range(0x10000) if ignorable.match(chr(c))} | {"\u2800"}
    assert set(BLANK) == expected | {c for c in map(chr, range(0x10000)) if c.isspace()}
    for text in ("\u3164\u3164", "\ufe0f", "\u034f", "\u2800 \u2800", "\u0000"):
        with pytest.raises(InputError):
            validate_text(text, Limits().max_chars)
    for text in ("\u06dd", "\u0600\u0661", "\u070f", "👨\u200d👩\u200d👧", "\u05e9\u05dc\u05d5\u05dd\u200f"):
        assert validate_text(text, Limits().max_chars) == text
