"""The one inference core: choose and load a verified bundle, validate texts, predict.

The HTTP API, SageMaker's /invocations and batch-predict all call this module, so they cannot
disagree. Which bundle: MODEL_DIR (or --model), else MODEL_URI (a registry version), else SageMaker's
/opt/ml/model, else the bundle baked into the image, else the champion (models/champion). With none
of those, the newest bundle whose gate promoted it is served, and the log and /health say so.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tweetops.catalog import CHAMPION, Catalog
from tweetops.errors import TweetopsError
from tweetops.model import LABELS
from tweetops.model.bundle import Bundle, digest, is_bundle, load_bundle, load_manifest
from tweetops.model.fast_path import fast_predict_proba
from tweetops.model.normalizer import BLANK, NUMBER_ONLY
from tweetops.release.registry import fetch_registry_model, published_digests
from tweetops.settings import environment, project_root

log = logging.getLogger("tweetops.inference")
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")
# Where the Docker image bakes its bundle: outside /opt/ml/model, which SageMaker mounts read-only.
BAKED_MODEL_DIR = Path("/opt/tweetops/model")
MAX_BATCH = 1000  # texts per /predict/batch request, and per model call (/invocations' bodies are bounded by size)
MAX_PROBLEMS = 100  # bad items one 422 lists, then that there are more


class InputError(TweetopsError, ValueError):
    """A text the model cannot take; the message says what to fix, `loc` where inside the value checked (the index
    of a text in a batch), `kind` which error in FastAPI's words. A ValueError, so pydantic validators may raise it
    as it is."""

    def __init__(self, message: str, loc: tuple[int | str, ...] = (), kind: str = "value_error"):
        super().__init__(message)
        self.loc, self.kind = loc, kind

    def each(self) -> list["InputError"]:
        """The problems this error reports, one 422 item each."""
        return [self]

    def located(self, where: tuple | None) -> "InputError":
        """The same problems inside `where`, the list's place in the request (None: no place, as each sentence
        names its own, a body's line)."""
        return InputErrors([InputError(str(p), () if where is None else (*where, *p.loc), p.kind)
                            for p in self.each()])


class InputErrors(InputError):
    """Every bad item of a batch (each an InputError), so a client fixes them in one go; it reads as the first."""

    def __init__(self, problems: list[InputError]):
        super().__init__(str(problems[0]), problems[0].loc, problems[0].kind)
        self.problems = problems

    def each(self) -> list[InputError]:
        return self.problems


class NamedInputError(InputError):
    """An item's problem whose sentence already says where the item is (a request body's line)."""


@dataclass(frozen=True)
class Limits:
    """What one request may hold; read once from the environment, shared by validation and OpenAPI."""

    max_chars: int = 1000
    max_batch: int | None = MAX_BATCH  # None: as many texts as the body holds
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_environment(cls) -> "Limits":
        env = environment()  # checks both are at least 1
        return cls(max_chars=env.max_chars, max_body_bytes=env.max_payload_mb * 1024 * 1024)


def validate_text(text, limit: int) -> str:
    """The text itself, or an InputError saying what is wrong with it."""
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}.")
    if "\x00" in text:  # PostgreSQL's text type cannot hold it
        raise InputError(f"text has a NUL character (U+0000) at character {text.index(chr(0))}; remove it.")
    if not text.strip(BLANK):
        raise InputError("text is empty; send the tweet's words.")
    if len(text) > limit:
        raise InputError(f"text has {len(text):,} characters; the limit is {limit:,}.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. JSON's "\ud800": no database can store it
            raise InputError(f"text has a lone surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}, "
                             "which is not a character; send valid Unicode.") from None
    return text


def is_number(cell) -> bool:
    """Whether a cell of a texts' column holds a number (an id, a score) rather than a text."""
    return (isinstance(cell, str) and NUMBER_ONLY.fullmatch(cell) is not None
            or isinstance(cell, (int, float)) and not isinstance(cell, bool))


def refuse_a_number_column(numbers: int, cells: int, where: str, column: str) -> None:
    """One sentence when most (`numbers`) of the readable `cells` of the texts' column are numbers (is_number): an
    id or a score column named as the texts (or columns swapped) would be predicted, or judged for drift, as if it
    held tweets."""
    if numbers * 2 > cells:
        raise TweetopsError(f"{where}'s column {column!r} holds numbers, not texts ({numbers:,} of the "
                            f"{cells:,} cells read); pass --text-column naming the tweets' column.")


def validate_batch(texts, limits: Limits, name: str = "texts", item=None, text_of=None) -> list[str]:
    """The texts, or InputErrors naming every bad one by where the request has it: `name` is what the request
    calls the list, `item(i)` its i-th text (default name[i]). `text_of(value)` gives an item's text (default:
    the item is its text) or an InputError, returned rather than raised (a body may hold a million), which
    `item(i)` names unless it is a NamedInputError."""
    item = item or (lambda i: f"{name}[{i}]")
    if not isinstance(texts, list):
        raise InputError(f"{name} must be a list of strings, got {type(texts).__name__}.")
    if not texts:
        raise InputError(f"{name} is empty; send at least one text.")
    if limits.max_batch is not None and len(texts) > limits.max_batch:
        raise InputError(f"{name} has {len(texts):,} items; the limit is {limits.max_batch:,} per request, "
                         "so split it.")
    valid, problems = [], []
    for i, value in enumerate(texts):
        problem = text = text_of(value) if text_of else value
        if not isinstance(problem, InputError):
            try:
                valid.append(validate_text(text, limits.max_chars))
                continue
            except InputError as exc:
                problem = exc
        if len(problems) == MAX_PROBLEMS:  # not counted further: a hostile body may hold a million
            problems.append(InputError(f"{name} has more bad items; only the first {MAX_PROBLEMS} are listed."))
            break
        problems.append(problem if isinstance(problem, NamedInputError) else
                        InputError(f"{item(i)}: {problem}", loc=(i,)))
    if problems:
        raise InputErrors(problems)
    return valid


@dataclass(frozen=True)
class ModelChoice:
    """Which bundle to serve, where that choice came from, and whether it is the champion (None: unknown)."""

    path: Path
    source: str
    champion: bool | None
    registry: dict | None = field(default=None)

    @property
    def note(self) -> str:
        state = {True: "yes", False: "NO", None: "unknown here (the registry and the image tag say)"}[self.champion]
        return f"{self.source}; champion: {state}"


def _newest_promoted(catalog: Catalog) -> Path | None:
    """The newest bundle under models/ whose gate promoted it (unreadable or older bundles are skipped)."""
    found = []
    for folder in catalog.models.iterdir() if catalog.models.is_dir() else []:
        if folder.is_symlink() or not is_bundle(folder):
            continue
        try:
            manifest = load_manifest(folder)
        except TweetopsError:
            continue
        if (manifest.get("gate") or {}).get("promote"):
            found.append((str(manifest.get("created_at", "")), folder))
    return max(found)[1] if found else None


def _is_champion(path: Path, catalog: Catalog) -> bool:
    """Whether the champion link beside the bundle (models/champion), else the project's, names it."""
    for link in (path.parent / CHAMPION, catalog.champion):
        if link.is_symlink() and is_bundle(link):
            return link.resolve() == path.resolve()
    return False


def _published_champion(catalog: Catalog) -> Path:
    """models/champion, once it is a bundle whose gate promoted it; a champion was published here, so a
    broken one is an error to fix, never a reason to fall back to another bundle."""
    link = catalog.champion
    if not is_bundle(link):
        raise TweetopsError(f"the champion {link} is missing or not a model bundle; restore it, or point it at a "
                            "published version with `tweetops registry promote VERSION` or `rollback`.")
    if not (load_manifest(link).get("gate") or {}).get("promote"):
        raise TweetopsError(f"{link} names {link.resolve().name}, a run its gate did not promote, so tweetops never "
                            "published it; point it at a published version with `tweetops registry promote VERSION`.")
    published = published_digests(catalog).get(link.resolve().name)
    if published and digest(link) != published:  # another bundle copied into the champion's folder, resealed
        raise TweetopsError(f"{link} names {link.resolve().name}, whose folder no longer holds the bundle published "
                            "there (its manifest's sha256 differs); restore it, or make a published version champion "
                            "with `tweetops registry promote VERSION`.")
    return link


def resolve_model(explicit: str | Path | None = None, catalog: Catalog | None = None) -> ModelChoice:
    env = environment()
    catalog = catalog or Catalog(project_root())
    chosen = explicit or env.model_dir
    if chosen:
        path = Path(chosen)
        return ModelChoice(path, f"the bundle at {path} (MODEL_DIR or --model)", _is_champion(path, catalog))
    if env.model_uri:
        path, info = fetch_registry_model(env.model_uri, catalog)
        return ModelChoice(path, f"{info['name']} version {info['version']} ({env.model_uri})", info["champion"],
                           info)
    if is_bundle(SAGEMAKER_MODEL_DIR):
        return ModelChoice(SAGEMAKER_MODEL_DIR, "SageMaker's /opt/ml/model", None)
    if is_bundle(BAKED_MODEL_DIR):
        return ModelChoice(BAKED_MODEL_DIR, "the bundle baked into the image", None)
    if any(path.is_symlink() or path.exists() for path in (catalog.champion, catalog.champion_history,
                                                           catalog.published_trace)):
        champion = _published_champion(catalog)
        with contextlib.suppress(OSError):  # a champion linked before the trace existed: leave it now
            catalog.published_trace.touch()
        return ModelChoice(champion, f"the published champion, {catalog.champion}", True)
    newest = _newest_promoted(catalog)
    if newest is None:
        raise TweetopsError(f"no champion at {catalog.champion} and no bundle under {catalog.models} that passed "
                            "its gate; train one with `make run` (or set MODEL_DIR).")
    log.warning("no champion at %s: serving %s, the newest bundle that passed its gate; publish one with "
                "`tweetops publish RUN_ID`", catalog.champion, newest)
    return ModelChoice(newest, f"the newest bundle that passed its gate, {newest}, as no champion is published",
                       False)


@dataclass
class Predictor:
    bundle: Bundle
    choice: ModelChoice

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.bundle.model.classes_)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return fast_predict_proba(self.bundle.model, list(texts))

    def predict(self, texts: list[str]) -> list[dict]:
        """One {label, probabilities} per text, in order."""
        if not texts:
            return []
        # At most MAX_BATCH texts a model call, so the model's working memory stays a batch's however large an
        # /invocations body is (its texts, answers and history records still grow with it: ~660 MB at worst for
        # 1 MB of one-character records).
        proba = np.concatenate([self.predict_proba(texts[i:i + MAX_BATCH]) for i in range(0, len(texts), MAX_BATCH)])
        labels = self.labels
        best = proba.argmax(axis=1)
        return [{"label": labels[b], "probabilities": {label: float(p) for label, p in zip(labels, row)}}
                for b, row in zip(best, proba)]


def load_predictor(model: ModelChoice | str | Path | None = None) -> Predictor:
    """The predictor of a choice already made, of an explicit bundle folder, or of `resolve_model()`."""
    choice = model if isinstance(model, ModelChoice) else resolve_model(model)
    bundle = load_bundle(choice.path)
    if tuple(bundle.model.classes_) != LABELS:
        raise TweetopsError(f"the model at {bundle.path} predicts {list(bundle.model.classes_)}, not {list(LABELS)}.")
    return Predictor(bundle, choice)
