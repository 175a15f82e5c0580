"""The serving fast path: the bundle's own fitted arithmetic without scikit-learn's per-call overhead.

Measured on one tweet: the Pipeline's TF-IDF blocks, FeatureUnion and classifier spend about 1 ms in
input validation and sparse-matrix construction around some 60 us of real work, and char_wb
n-grams are regenerated for every word of every text. `compile_model` recognises the trained
Pipeline's shape (preprocessing steps -> FeatureUnion of TF-IDF vectorisers and dense blocks ->
multinomial LogisticRegression) and replays the same floating-point operations in the same order on
raw arrays, through the very kernels scikit-learn and SciPy run (the CSR row L2 normalisation and
the CSR x dense product), so the probabilities are bit-identical to `model.predict_proba`
(tests/model/test_fast_path.py checks every bundled tweet). char_wb n-grams are counted per word,
which is what char_wb does, and memoised per word. Any other shape compiles to None and the caller
keeps the generic path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import _sparsetools
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.extmath import softmax
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2
import sklearn

WORD_CACHE_LIMIT = 200_000  # distinct words memoised per char_wb block before the memo starts afresh


def walk(step, X):
    """step.transform(X), walking nested Pipelines and FeatureUnions step by step."""
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            X = walk(inner, X)
        return X
    if isinstance(step, FeatureUnion):
        # All-CSR blocks take scipy's fast horizontal stack; a dense block would force a COO round trip.
        blocks = [sparse.csr_matrix(walk(t, X)) for _, t in step.transformer_list if t != "drop"]
        return sparse.hstack(blocks, format="csr")
    return step.transform(X)


@dataclass
class _Rows:
    """The four attributes sklearn's inplace_csr_row_normalize_l2 reads, without building a SciPy matrix."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple


def _count_rows(pieces: list, piece_rows: list[int], n_rows: int, width: int) -> _Rows:
    """CSR count arrays from each document's in-vocabulary columns (pieces, possibly several per
    document): columns sorted within each row, as CountVectorizer builds them."""
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    columns = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, dtype=np.int64)
    keys, counts = np.unique(np.repeat(np.asarray(piece_rows, dtype=np.int64) * width, lengths) + columns,
                             return_counts=True)
    rows = keys // width
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return _Rows(counts.astype(np.float64), (keys - rows * width).astype(np.int32), indptr, (n_rows, width))


def _nonzeros(X: np.ndarray) -> _Rows:
    """A dense block's CSR arrays: its non-zeros in row-major order, as sparse.csr_matrix(X) keeps them."""
    rows, columns = np.nonzero(X)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
    return _Rows(X[rows, columns], columns.astype(np.int32), indptr, X.shape)


@dataclass
class _TfidfBlock:
    """One fitted TfidfVectorizer: counts, then TfidfTransformer.transform's operations on the raw arrays."""

    vectorizer: TfidfVectorizer
    memo: dict = field(default_factory=dict)

    def __post_init__(self):
        v = self.vectorizer
        self.vocabulary = v.vocabulary_
        self.width = len(v.vocabulary_)
        self.analyze = v.build_analyzer()
        self.preprocess = v.build_preprocessor()

    def _columns(self, features) -> np.ndarray:
        """The vocabulary columns of the in-vocabulary features, repeats kept (they are the counts)."""
        return np.fromiter((c for c in map(self.vocabulary.get, features) if c is not None), dtype=np.int64)

    def _counts(self, texts) -> _Rows:
        if self.vectorizer.analyzer != "char_wb":
            return _count_rows([self._columns(self.analyze(t)) for t in texts], range(len(texts)), len(texts),
                               self.width)
        # char_wb pads each whitespace-separated word and never crosses words: a text's counts are the sum
        # of its words' counts, and a word's columns are memoised.
        v, memo, pieces, piece_rows = self.vectorizer, self.memo, [], []
        for row, text in enumerate(texts):
            for word in v._white_spaces.sub(" ", self.preprocess(v.decode(text))).split():
                columns = memo.get(word)
                if columns is None:
                    if len(memo) >= WORD_CACHE_LIMIT:
                        memo.clear()
                    columns = memo[word] = self._columns(v._char_wb_ngrams(word))
                pieces.append(columns)
                piece_rows.append(row)
        return _count_rows(pieces, piece_rows, len(texts), self.width)

    def transform(self, texts) -> _Rows:
        rows = self._counts(texts)
        tfidf = self.vectorizer._tfidf
        if tfidf.sublinear_tf:
            np.log(rows.data, rows.data)
            rows.data += 1.0
        if hasattr(tfidf, "idf_"):
            rows.data *= tfidf.idf_[rows.indices]
        if tfidf.norm == "l2":
            inplace_csr_row_normalize_l2(rows)
        return rows


@dataclass
class _DenseBlock:
    """Any other fitted transformer (the lexicon features): its own transform, then CSR's non-zeros."""

    transformer: object
    width: int

    def transform(self, texts) -> _Rows:
        X = self._dense(texts)
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)
            return _Rows(X.data, X.indices, X.indptr, X.shape)
        return _nonzeros(np.asarray(X, dtype=np.float64))

    def _dense(self, texts):
        """A trailing StandardScaler is applied as its transform computes it (copy, -= mean_, /= scale_):
        its input validation alone cost more than the lexicon features (~250 us a call)."""
        t = self.transformer
        if not (isinstance(t, Pipeline) and isinstance(t.steps[-1][1], StandardScaler)):
            return walk(t, texts)
        X = texts
        for _, step in t.steps[:-1]:
            X = walk(step, X)
        X, scaler = np.array(X, dtype=np.float64), t.steps[-1][1]
        if scaler.with_mean:
            X -= scaler.mean_
        if scaler.with_std:
            X /= scaler.scale_
        return X


@dataclass
class CompiledModel:
    head: list  # the steps before the FeatureUnion (the normaliser), applied as they are
    blocks: list  # (block, contiguous coef_.T rows of its columns)
    classifier: LogisticRegression

    def predict_proba(self, texts) -> np.ndarray:
        X = texts
        for step in self.head:
            X = walk(step, X)
        n_classes = len(self.classifier.classes_)
        # decision_function is CSR @ coef_.T + intercept_; csr_matvecs accumulates into `scores`, so running
        # it block after block adds each row's terms in the same order as one call over the stacked row.
        scores = np.zeros((len(X), n_classes), dtype=np.float64)
        for block, coef_t in self.blocks:
            rows = block.transform(X)
            _sparsetools.csr_matvecs(len(X), block.width, n_classes, rows.indptr, rows.indices, rows.data,
                                     coef_t.ravel(), scores.ravel())
        return softmax(scores + self.classifier.intercept_, copy=False)


def _block(transformer):
    if isinstance(transformer, TfidfVectorizer):
        supported = (transformer.analyzer in ("word", "char_wb") and not transformer.binary
                     and transformer.input == "content" and transformer.norm in ("l2", None)
                     and transformer.dtype == np.float64)
        return _TfidfBlock(transformer) if supported else None
    width = getattr(transformer, "n_features_out_", None) or len(transformer.get_feature_names_out())
    return _DenseBlock(transformer, width)


def compile_model(model) -> CompiledModel | None:
    """The fast path for `model`, or None when its shape is not the one this module replays exactly."""
    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    *head, (_, union), (_, classifier) = model.steps
    if not (isinstance(union, FeatureUnion) and isinstance(classifier, LogisticRegression)
            and len(classifier.classes_) > 2 and union.transformer_weights is None):
        return None
    blocks, offset = [], 0
    for _, transformer in union.transformer_list:
        if transformer == "drop":
            continue
        try:
            block = _block(transformer)
        except (AttributeError, TypeError, ValueError):
            return None
        if block is None:
            return None
        coef_t = np.ascontiguousarray(classifier.coef_[:, offset:offset + block.width].T, dtype=np.float64)
        blocks.append((block, coef_t))
        offset += block.width
    if offset != classifier.coef_.shape[1]:
        return None
    return CompiledModel(head=[step for _, step in head], blocks=blocks, classifier=classifier)


def fast_predict_proba(model: Pipeline, texts: list[str]) -> np.ndarray:
    """model.predict_proba(texts), bit for bit, without scikit-learn's per-call overhead.

    Measured on one text: Pipeline + FeatureUnion spend most of their time in input validation,
    joblib dispatch and output wrapping, not in the model. The trained bundle's shape runs through
    this module (its exact arithmetic on raw arrays); any other Pipeline has its steps walked
    directly with validation of the already-validated internal arrays switched off.
    tests/model/test_inference.py and tests/model/test_fast_path.py check both equal
    model.predict_proba exactly.
    """
    if not isinstance(model, Pipeline):  # the encoder family's blend: it answers itself, and sends its linear half here
        return model.predict_proba(texts)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        compiled = compiled_model(model)
        if compiled is not None:
            return compiled.predict_proba(texts)
        X = texts
        for _, step in model.steps[:-1]:
            X = walk(step, X)
        return model.steps[-1][1].predict_proba(X)


_COMPILED: dict[int, tuple] = {}


def compiled_model(model: Pipeline) -> CompiledModel | None:
    """The model's fast path, compiled once per loaded model (None: the generic path)."""
    entry = _COMPILED.get(id(model))
    if entry is None or entry[0] is not model:  # an id can be reused once a model is garbage-collected
        entry = _COMPILED[id(model)] = (model, compile_model(model))
    return entry[1]
