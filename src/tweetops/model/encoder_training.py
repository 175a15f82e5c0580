"""Fine-tune the pretrained sentence encoder end to end and export it to ONNX (training only: torch).

The network is the pretrained encoder, mean pooling over the real tokens and one linear layer to
the three classes; it is trained with the same row weights as the linear model, balanced per class.
Exported to ONNX (text ids in, class logits out) and quantised to int8, it is served by onnxruntime
(`tweetops.model.encoder`): torch never enters the serving image.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.utils.class_weight import compute_sample_weight

from tweetops.errors import TweetopsError
from tweetops.io.files import sha256_file
from tweetops.model import LABELS
from tweetops.model.encoder import EncoderBlend, OnnxEncoder, Tokens, resolve_base, tokenizer_from
from tweetops.model.normalizer import normalizer_from
from tweetops.settings import EncoderParams, LabelParams

log = logging.getLogger("tweetops.encoder")


def _torch():
    try:
        import torch
        import transformers
    except ImportError as error:  # pragma: no cover - the message is the test
        raise TweetopsError("the encoder family needs torch and transformers to train; install them with "
                            "`make install-encoder` (they never enter the serving image).") from error
    transformers.utils.logging.disable_progress_bar()  # a bar per weight file, into CI logs
    transformers.utils.logging.set_verbosity_error()
    return torch, transformers


def _network(base: Path):
    torch, transformers = _torch()

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # Eager attention: its exported graph is the one onnxruntime's optimiser fuses (see export_onnx).
            self.encoder = transformers.AutoModel.from_pretrained(str(base), local_files_only=True,
                                                                  attn_implementation="eager")
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(LABELS))

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled)

    return Classifier()


def balanced(y: np.ndarray) -> np.ndarray:
    """sklearn's class_weight="balanced", per row."""
    return compute_sample_weight("balanced", y)


def batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of rows of similar length: rows are shuffled, sorted by length within pools of
    50 batches, cut into batches, and the batches shuffled. Tweets are mostly far shorter than max_tokens,
    so a batch pads to its own longest row instead of to nearly max_tokens (each epoch about twice as fast)."""
    order = rng.permutation(len(lengths))
    pool = 50 * size
    chunks = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        chunks.extend(part[i:i + size] for i in range(0, len(part), size))
    return [chunks[i] for i in rng.permutation(len(chunks))]


def soft_targets(y: np.ndarray, rating: np.ndarray, lp: LabelParams, sigma: float) -> np.ndarray:
    """Each row's target distribution over LABELS: one-hot, or with sigma > 0 and a rating, the chance that
    the rating blurred by N(0, sigma) falls below, between or above the label thresholds."""
    hard = (np.asarray(y, dtype=object)[:, None] == np.array(LABELS, dtype=object)[None, :]).astype(float)
    rating = np.asarray(rating, dtype=float)
    if sigma <= 0:
        return hard
    below = norm.cdf((lp.negative_below - rating) / sigma)
    above = norm.sf((lp.positive_above - rating) / sigma)
    soft = np.stack([below, 1.0 - below - above, above], axis=1)
    return np.where(np.isnan(rating)[:, None], hard, soft)


def fine_tune(texts: list[str], y: np.ndarray, target: np.ndarray, weight: np.ndarray, p: EncoderParams,
              base: Path):
    """The fine-tuned network (torch module, eval mode). `target`: each row's distribution over LABELS (see
    soft_targets); `y` its label, for class balancing; `weight` its weight before balancing."""
    torch, transformers = _torch()
    torch.manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    tokens = tokenizer_from(base / "tokenizer.json", p.max_tokens).encode(texts)
    target = torch.from_numpy(np.asarray(target, dtype=np.float32))
    row_weight = weight * balanced(y)
    row_weight = row_weight / row_weight.mean()
    lengths = tokens.lengths()
    net = _network(base)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=p.learning_rate, weight_decay=0.01)
    steps = p.epochs * math.ceil(len(texts) / p.batch_size)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    for epoch in range(p.epochs):
        total = 0.0
        for rows in batches(lengths, p.batch_size, rng):
            ids, mask = tokens.batch(rows)
            logits = net(torch.from_numpy(ids), torch.from_numpy(mask))
            loss = -(target[rows] * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
            loss = (loss * torch.from_numpy(row_weight[rows]).float()).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(rows)
        log.info("encoder epoch %d/%d: weighted loss %.4f", epoch + 1, p.epochs, total / len(texts))
    return net.eval()


def predict_proba(net, tokens: Tokens, batch_size: int = 128) -> np.ndarray:
    """Class probabilities from the torch network (the exported ONNX model must agree with it)."""
    torch, _ = _torch()
    out = []
    with torch.inference_mode():
        for start in range(0, len(tokens), batch_size):
            ids, mask = tokens.batch(np.arange(start, min(start + batch_size, len(tokens))))
            out.append(torch.softmax(net(torch.from_numpy(ids), torch.from_numpy(mask)), dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)))


def export_onnx(net, path: Path, quantize: bool) -> Path:
    """Write the network as ONNX (input_ids, attention_mask -> logits) for onnxruntime on a CPU.

    Three steps, each measured on one tweet with 1 thread: the export with eager attention, which
    onnxruntime's BERT optimiser recognises and fuses (attention, embedding + layer norm, bias + GELU:
    7.7 -> 6.9 ms; the default scaled-dot-product attention exports a graph it cannot fuse, 10.5 ms);
    then, when asked, int8 weights quantised per output channel (2.5 ms; per tensor, the error on the
    logits was twice as large).
    """
    torch, _ = _torch()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    ids = torch.ones((2, 8), dtype=torch.int64)
    raw, fused = path.with_suffix(".raw.onnx"), path.with_suffix(".fused.onnx")
    with warnings.catch_warnings():  # the tracer's notes on shape-dependent Python branches (none changes the graph)
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (ids, torch.ones_like(ids)), str(raw), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}})
    config = net.encoder.config
    # onnxruntime's optimiser logs every fusion at INFO, and its quantiser advises pre-processing (which is
    # for static quantisation, not this): neither belongs in a run's log.
    logging.disable(logging.WARNING)
    try:
        optimizer.optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                 hidden_size=config.hidden_size).save_model_to_file(str(fused if quantize else path))
        if quantize:
            # The fused operators are outside the standard domain, so shape inference cannot type their outputs.
            quantize_dynamic(str(fused), str(path), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": 1})  # onnx.TensorProto.FLOAT
    finally:
        logging.disable(logging.NOTSET)
    raw.unlink()
    fused.unlink(missing_ok=True)
    return path


def base_provenance(base: Path) -> dict:
    """What the bundle records of the pretrained encoder: where it came from and the sha256 of its weights."""
    package = next((parent.name for parent in base.parents if (parent / "__init__.py").is_file()
                    and not (parent.parent / "__init__.py").is_file()), None)
    version = None
    if package:
        try:
            version = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"name": base.name.replace("__", "/"), "package": package, "package_version": version,
            "weights_sha256": sha256_file(base / "model.safetensors"),
            "tokenizer_sha256": sha256_file(base / "tokenizer.json"),
            "licence_files": [name for name in ("LICENSE", "NOTICE") if (base / name).is_file()]}


def check_can_train(p: EncoderParams, root: Path | None = None) -> Path:
    """The pretrained encoder's folder, once torch imports: a stage calls it before any fitting, so a
    missing package or folder is one sentence at once, not after the linear half is fitted."""
    _torch()
    return resolve_base(p.base, root)


def train_blend(params, texts: list[str], y: np.ndarray, rating: np.ndarray, weight: np.ndarray, linear,
                workdir: Path, check_texts: list[str], root: Path | None = None):
    """The encoder family's model: fine-tune on the linear model's training rows, export, and blend.

    The served ONNX graph is checked against the torch network it came from on `check_texts`: int8
    quantisation moves probabilities a little (most where the network is unsure), so the check is on
    labels: at least 90% the same (a broken export agrees on about a third), and the agreement is
    recorded in the manifest.
    """
    p = params.model.encoder
    base = resolve_base(p.base, root)
    normalize = normalizer_from(params.preprocessing)
    started = time.perf_counter()
    target = soft_targets(y, rating, params.labels, p.label_sigma)
    net = fine_tune(normalize.transform(texts), y, target, weight, p, base)
    tuned = time.perf_counter() - started
    onnx = export_onnx(net, Path(workdir) / "encoder.onnx", quantize=p.quantize)
    encoder = OnnxEncoder(onnx.read_bytes(), (base / "tokenizer.json").read_text(encoding="utf-8"), p.max_tokens)
    onnx.unlink()
    normalized = normalize.transform(check_texts)
    reference = predict_proba(net, encoder.tokenizer.encode(normalized))
    served = encoder.predict_proba(normalized)
    agreement = float((reference.argmax(1) == served.argmax(1)).mean()) if len(normalized) else 1.0
    if agreement < 0.90:
        raise RuntimeError(f"the exported encoder agrees with the trained network on only {agreement:.1%} of "
                           "the check texts; refusing to save it")
    info = {"base": base_provenance(base), "max_tokens": p.max_tokens, "learning_rate": p.learning_rate,
            "epochs": p.epochs, "batch_size": p.batch_size, "label_sigma": p.label_sigma, "seed": p.seed,
            "quantized": p.quantize,
            "encoder_weight": p.encoder_weight, "onnx_bytes": len(encoder.onnx),
            "onnx_sha256": hashlib.sha256(encoder.onnx).hexdigest(), "fine_tune_seconds": round(tuned, 1),
            "export_check": {"texts": len(normalized), "label_agreement": agreement,
                             "max_probability_difference": float(np.abs(reference - served).max(initial=0.0))}}
    licences = {f"ENCODER_{name}": base / name for name in info["base"]["licence_files"]}
    return EncoderBlend(linear, normalize, encoder, p.encoder_weight), info, licences
