"""The versioned model bundle: models/<run_id>/ holding model.joblib, its companions and a sealed manifest.

The manifest records the run id, git commit, params, input data sha256, metrics, the gate's verdict,
library versions and the sha256 of every other file. Loading checks, before anything is unpickled:
- manifest.json against manifest.sha256 (an edited run id or metric is refused);
- every listed file against its sha256, and that the folder holds nothing the manifest does not list;
- with TWEETOPS_BUNDLE_KEY set, manifest.sig: an HMAC-SHA256 of the manifest made with that key, so
  someone who can write every file of the bundle but lacks the key cannot make tweetops load a pickle.
The manifest's sha256 is the bundle's digest: registries and the champion history name bundles by it.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib.metadata
import io
import json
import os
import pickle
import platform
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np

from tweetops.errors import TweetopsError
from tweetops.io.files import sha256_file
from tweetops.settings import environment

FORMAT = 2  # 1: before the layered package (classes pickled under other module paths); not loadable
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
CHECKSUM_FILE = "manifest.sha256"
SIGNATURE_FILE = "manifest.sig"
CARD_FILE = "model_card.md"
REFERENCE_FILE = "reference.parquet"
# Which texts the model was fitted on (8-byte digests, sorted): a later run's gate scores this model, as champion,
# only on test rows it never saw, since another data version's split puts rows it trained on into the test split.
TRAINED_ON_FILE = "trained_on.npy"
SEAL = (MANIFEST_FILE, CHECKSUM_FILE, SIGNATURE_FILE)  # the files that describe the others
# What a bundle's model needs to load and answer the same: recorded in its manifest, pinned for MLflow.
# The last two run the encoder family's graph and tokenizer (int8 kernels and tokenizer formats move).
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "vaderSentiment", "onnxruntime", "tokenizers")
RETRAIN = "retrain it with `tweetops run` (or `make run`)"
# How model.joblib is written: pickled by the C pickler, then zlib (level 3), a stream joblib.load reads too.
# joblib.dump pickles in Python: the linear model (67,000 vocabulary entries) took 1.1 s to write and 0.47 s to
# read, against 0.3 s and 0.05 s. Bundles whose manifest does not name it were written by joblib.dump, whose
# numpy arrays only joblib.load rebuilds.
SERIALIZATION = "pickle-5+zlib"


class OlderBundle(TweetopsError):
    """A bundle made before a check existed (an older format, or unsigned before a key was set): not
    tampered with, but not loadable here."""


@dataclass(frozen=True)
class Bundle:
    model: object  # a fitted sklearn Pipeline: raw text -> class probabilities
    manifest: dict
    path: Path
    digest: str  # sha256 of manifest.json

    @property
    def version(self) -> str:
        return str(self.manifest["run_id"])


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(root: Path) -> str:
    sha = environment().github_sha
    if sha:
        return sha
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def is_bundle(path: Path) -> bool:
    return (Path(path) / MANIFEST_FILE).is_file() and (Path(path) / MODEL_FILE).is_file()


def _key() -> bytes | None:
    key = environment().bundle_key
    return key.get_secret_value().encode() if key else None


def text_digests(texts) -> np.ndarray:
    """Each text's 8-byte BLAKE2b digest, as uint64 (a lone surrogate is hashed as its code unit)."""
    return np.array([int.from_bytes(hashlib.blake2b(str(t).encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                                    "little") for t in texts], dtype=np.uint64)


def write_trained_on(path: Path, texts) -> Path:
    np.save(path, np.unique(text_digests(texts)), allow_pickle=False)
    return path


def trained_on(folder: Path) -> np.ndarray | None:
    """The digests of the texts a bundle's model was fitted on; None for a bundle made before they were kept."""
    path = Path(folder) / TRAINED_ON_FILE
    return np.load(path, allow_pickle=False) if path.exists() else None


def _signature(manifest_bytes: bytes, key: bytes) -> str:
    return hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def save_bundle(model, folder: Path, manifest: dict, extra_files: dict[str, Path] | None = None) -> Path:
    """Write the sealed bundle into `folder` (built beside it, then renamed into place)."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / MODEL_FILE).write_bytes(zlib.compress(pickle.dumps(model, protocol=5), 3))
    for name, source in (extra_files or {}).items():
        shutil.copyfile(source, staging / name)
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
    manifest = {**manifest, "bundle_format": FORMAT, "model_serialization": SERIALIZATION,
                "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "libraries": library_versions(), "files": files}
    data = (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    (staging / MANIFEST_FILE).write_bytes(data)
    (staging / CHECKSUM_FILE).write_text(f"{hashlib.sha256(data).hexdigest()}  {MANIFEST_FILE}\n", encoding="ascii")
    key = _key()
    if key:
        (staging / SIGNATURE_FILE).write_text(_signature(data, key) + "\n", encoding="ascii")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder


def _read_manifest(folder: Path) -> tuple[dict, bytes]:
    folder = Path(folder)
    if not folder.exists():
        raise TweetopsError(f"no model at {folder}; train one with `make run` or set MODEL_DIR.")
    if not is_bundle(folder):
        raise TweetopsError(f"{folder} is not a model bundle (it needs {MODEL_FILE} and {MANIFEST_FILE}).")
    data = (folder / MANIFEST_FILE).read_bytes()
    try:
        manifest = json.loads(data)
    except ValueError:
        raise TweetopsError(f"{folder / MANIFEST_FILE} is not valid JSON; the bundle is damaged.")
    if not isinstance(manifest, dict):
        raise TweetopsError(f"{folder / MANIFEST_FILE} is not a JSON object; the bundle is damaged.")
    if manifest.get("bundle_format") != FORMAT:
        raise OlderBundle(f"the model at {folder} was made by an older tweetops (bundle format "
                          f"{manifest.get('bundle_format', 1)}, this one reads {FORMAT}); {RETRAIN}.")
    if not isinstance(manifest.get("gate") or {}, dict):  # listings read it before any hash is checked
        raise TweetopsError(f"{folder / MANIFEST_FILE} has a gate that is not a JSON object; the bundle is damaged.")
    return manifest, data


def load_manifest(folder: Path) -> dict:
    """The manifest as written, without checking any hash (for listings; `verify_bundle` before trusting it)."""
    return _read_manifest(folder)[0]


def digest(folder: Path) -> str:
    """The bundle's identity: the sha256 of its manifest, which holds the sha256 of every other file."""
    return sha256_file(Path(folder) / MANIFEST_FILE)


def verify_bundle(folder: Path) -> dict:
    """The manifest, once the seal, every file and (with a key) the signature check out; else a TweetopsError."""
    folder = Path(folder)
    manifest, data = _read_manifest(folder)
    try:
        recorded = (folder / CHECKSUM_FILE).read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        raise TweetopsError(f"{folder} has no readable {CHECKSUM_FILE}; refusing a bundle whose manifest "
                            f"cannot be checked; {RETRAIN}.")
    if not hmac.compare_digest(recorded, hashlib.sha256(data).hexdigest()):
        raise TweetopsError(f"{folder / MANIFEST_FILE} does not match {CHECKSUM_FILE}; refusing a modified manifest.")
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise TweetopsError(f"{folder / MANIFEST_FILE} lists no hash for {MODEL_FILE}; refusing to load it.")
    for entry in sorted(folder.iterdir()):
        if entry.name not in files and entry.name not in SEAL:
            raise TweetopsError(f"{entry} is not listed in the manifest; refusing a bundle with unknown files.")
        if entry.is_symlink() or not entry.is_file():
            raise TweetopsError(f"{entry} is not a regular file; refusing the bundle.")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise TweetopsError(f"{path} is listed in the manifest but missing; the bundle is incomplete.")
        if sha256_file(path) != expected:
            raise TweetopsError(f"{path} does not match the sha256 in its manifest; refusing to load a modified model.")
    key = _key()
    if key is not None:
        try:
            signature = (folder / SIGNATURE_FILE).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise OlderBundle(f"{folder} is not signed and TWEETOPS_BUNDLE_KEY asks for signed bundles; "
                              "retrain it with the key set.")
        if not hmac.compare_digest(signature, _signature(data, key)):
            raise TweetopsError(f"{folder / SIGNATURE_FILE} does not match TWEETOPS_BUNDLE_KEY; refusing a bundle "
                                "this key did not sign.")
    return manifest


def load_bundle(folder: Path) -> Bundle:
    folder = Path(folder)
    manifest = verify_bundle(folder)
    data = (folder / MODEL_FILE).read_bytes()  # unpickle exactly the bytes that were checked
    if hashlib.sha256(data).hexdigest() != manifest["files"][MODEL_FILE]:
        raise TweetopsError(f"{folder / MODEL_FILE} changed while it was being loaded; refusing it.")
    serialization = manifest.get("model_serialization")
    if serialization not in (None, SERIALIZATION):
        raise TweetopsError(f"{folder / MODEL_FILE} is stored as {serialization!r}, which this tweetops does not read "
                            f"(it reads {SERIALIZATION!r}); serve it with the tweetops that trained it, or {RETRAIN}.")
    try:
        model = pickle.loads(zlib.decompress(data)) if serialization else joblib.load(io.BytesIO(data))
    except Exception as exc:  # the hashes matched, so it is what training wrote: another version wrote it
        raise TweetopsError(f"{folder / MODEL_FILE} matches its manifest but cannot be unpickled here "
                            f"({type(exc).__name__}: {exc}); another tweetops or library version likely wrote it; "
                            f"{RETRAIN}.") from None
    if not callable(getattr(model, "predict_proba", None)) or not hasattr(model, "classes_"):
        raise TweetopsError(f"{folder / MODEL_FILE} holds a {type(model).__name__}, not a fitted model with "
                            f"predict_proba; {RETRAIN}.")
    return Bundle(model=model, manifest=manifest, path=folder.resolve(), digest=digest(folder))


def read_card(bundle: Path) -> str | None:
    """The bundle's model card as Markdown (every bundle of this format has one; None if absent)."""
    path = Path(bundle) / CARD_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else None
