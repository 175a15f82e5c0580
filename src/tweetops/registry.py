"""Who the champion is: the MLflow model registry when tracking is on, else models/champion.

Aliases, not stages: each run's model becomes a new version with the alias `challenger`; `champion`
moves only when the gate (or `tweetops registry promote`) says so. Every promotion is appended to a
champion history (a registered-model tag in MLflow, models/champions.json locally), so `rollback`
can move the champion back to the one before. With tracking on the registry alias is the truth and
the local models/champion symlink mirrors it (the bundle is downloaded when it is not here).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tweetops.artifacts import MANIFEST_FILE, MODEL_FILE, is_bundle, point_alias, verify_bundle
from tweetops.config import Config
from tweetops.errors import TweetopsError
from tweetops.io import read_json, write_json
from tweetops.tracking import Tracking, embedded_uri, mlflow_installed, speaking_to, tracking_for

log = logging.getLogger("tweetops.registry")
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Version:
    version: str
    run_id: str
    aliases: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)


class LocalRegistry:
    """Tracking off: the champion is models/champion; its history is models/champions.json."""

    where = "local"

    def guard(self):
        return contextlib.nullcontext()

    def __init__(self, models_dir: Path):
        self.models = Path(models_dir)
        self.history_file = self.models / "champions.json"

    def history(self) -> list[dict]:
        return read_json(self.history_file) if self.history_file.is_file() else []

    def champion(self) -> Version | None:
        link = self.models / CHAMPION
        if not link.is_symlink():
            return None
        run_id = Path(link.readlink()).name
        return Version(version=run_id, run_id=run_id, aliases=[CHAMPION])

    def bundle_of(self, version: Version) -> Path:
        return self.models / version.run_id

    def register(self, manifest: dict, logged: dict | None = None) -> Version:
        point_alias(self.models, CHALLENGER, manifest["run_id"])
        return Version(version=manifest["run_id"], run_id=manifest["run_id"], aliases=[CHALLENGER])

    def promote(self, version: str, reason: str) -> Version:
        bundle = self.models / version
        if not is_bundle(bundle):
            raise TweetopsError(f"no model bundle {bundle}; `tweetops registry status` lists the versions.")
        verify_bundle(bundle)
        point_alias(self.models, CHAMPION, version)
        write_json(self.history_file, [*self.history(), {"version": version, "at": _now(), "reason": reason}])
        return Version(version=version, run_id=version, aliases=[CHAMPION])

    def rollback(self) -> tuple[str, str]:
        history = self.history()
        if len(history) < 2:
            raise TweetopsError("there is no earlier champion to roll back to.")
        previous = history[-2]["version"]
        point_alias(self.models, CHAMPION, previous)
        write_json(self.history_file, history[:-1])
        return history[-1]["version"], previous

    def versions(self) -> list[Version]:
        links = {}
        for alias in (CHAMPION, CHALLENGER, "latest"):
            if (self.models / alias).is_symlink():
                links.setdefault(Path((self.models / alias).readlink()).name, []).append(alias)
        return [Version(version=p.name, run_id=p.name, aliases=links.get(p.name, []),
                        tags={"gate": (read_json(p / MANIFEST_FILE).get("gate") or {}).get("sentence", "")})
                for p in sorted(self.models.iterdir()) if p.is_dir() and not p.is_symlink() and is_bundle(p)]


class MlflowRegistry:
    """Tracking on: the registered model's aliases are the truth; models/champion mirrors `champion`."""

    where = "mlflow"

    def guard(self):
        """MLflow client errors inside become one sentence naming the server."""
        return speaking_to(self.tracking.uri)

    def __init__(self, tracking: Tracking, models_dir: Path):
        self.tracking = tracking
        self.name = tracking.model_name
        self.models = Path(models_dir)
        self.client = tracking.client()

    def _by_alias(self, alias: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # no model, no alias
                return None
            raise

    def _version(self, version: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(self.name, str(version))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise TweetopsError(f"{self.name} has no version {version}; `tweetops registry status` lists them.")
            raise

    @staticmethod
    def _view(mv) -> Version:
        return Version(version=str(mv.version), run_id=mv.tags.get("run_id", ""), aliases=list(mv.aliases),
                       tags=dict(mv.tags))

    def champion(self) -> Version | None:
        mv = self._by_alias(CHAMPION)
        return self._view(mv) if mv else None

    def bundle_of(self, version: Version) -> Path:
        """For the champion: its verified bundle in models/<run_id>, mirrored by models/champion."""
        return self.mirror(version)

    def mirror(self, version: Version) -> Path:
        """models/<run_id> holding the version's verified bundle (downloaded if needed), and models/champion."""
        bundle = fetch_bundle(self.tracking, version.version, self.models / version.run_id,
                              version.tags.get("model_sha256"))
        point_alias(self.models, CHAMPION, version.run_id)
        return bundle

    def history(self) -> list[str]:
        model = self.client.get_registered_model(self.name)
        return json.loads(model.tags.get(HISTORY_TAG, "[]"))

    def register(self, manifest: dict, logged: dict) -> Version:
        version = logged["version"]
        gate = manifest.get("gate") or {}
        tags = {"run_id": manifest["run_id"], "mlflow_run_id": logged["mlflow_run_id"],
                "model_sha256": manifest["files"][MODEL_FILE], "macro_f1": f"{manifest['metrics']['macro_f1']:.4f}",
                "gate.decision": "promote" if gate.get("promote") else "keep",
                "gate.against": str(gate.get("against")), "gate.sentence": gate.get("sentence", "")[:5000]}
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)
        self.client.set_registered_model_alias(self.name, CHALLENGER, version)
        return self._view(self._version(version))

    def promote(self, version: str, reason: str) -> Version:
        mv = self._version(version)
        view = self._view(mv)
        if not view.run_id:
            raise TweetopsError(f"{self.name} version {version} has no run_id tag; it was not registered by tweetops.")
        self.mirror(view)  # refuses a bundle whose hashes do not match before the alias moves
        self.client.set_registered_model_alias(self.name, CHAMPION, str(version))
        self.client.set_model_version_tag(self.name, str(version), "promoted", f"{_now()}: {reason}"[:5000])
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps([*self.history(), str(version)]))
        return view

    def rollback(self) -> tuple[str, str]:
        history = self.history()
        if len(history) < 2:
            raise TweetopsError(f"{self.name} has no earlier champion to roll back to.")
        previous = self._view(self._version(history[-2]))
        self.mirror(previous)
        self.client.set_registered_model_alias(self.name, CHAMPION, previous.version)
        self.client.set_model_version_tag(self.name, history[-1], "rolled_back", _now())
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[:-1]))
        return history[-1], previous.version

    def versions(self) -> list[Version]:
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(self.name).aliases  # search results omit aliases
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":  # no run registered a model yet
                return []
            raise
        views = [self._view(mv) for mv in self.client.search_model_versions(f"name = '{self.name}'")]
        for view in views:
            view.aliases = sorted(alias for alias, version in aliases.items() if str(version) == view.version)
        return sorted(views, key=lambda v: int(v.version))


def fetch_bundle(tracking: Tracking, version: str, folder: Path, model_sha256: str | None = None) -> Path:
    """The version's bundle in `folder`, verified against its manifest (and the sha256 the registry
    recorded for model.joblib); downloaded only when `folder` does not already hold that bundle."""
    import mlflow.artifacts

    folder = Path(folder)
    if is_bundle(folder):
        if model_sha256 not in (None, verify_bundle(folder)["files"][MODEL_FILE]):
            raise TweetopsError(f"{folder} holds another model than {tracking.model_name} version {version} "
                                "(its model.joblib sha256 differs); move it away and retry.")
        return folder
    with tempfile.TemporaryDirectory(prefix="tweetops-fetch-") as scratch:
        mlflow.set_registry_uri(tracking.uri)
        mlflow.set_tracking_uri(tracking.uri)
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{tracking.model_name}/{version}", dst_path=scratch))
        found = [p.parent for p in local.rglob(MANIFEST_FILE) if is_bundle(p.parent)]
        if not found:
            raise TweetopsError(f"{tracking.model_name} version {version} holds no model bundle.")
        staging = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(found[0], staging)
        manifest = verify_bundle(staging)  # the sha256 of every file, before it takes the real name
        if model_sha256 and manifest["files"][MODEL_FILE] != model_sha256:
            raise TweetopsError(f"{tracking.model_name} version {version}'s model.joblib does not match the sha256 "
                                "recorded in the registry; refusing it.")
        shutil.rmtree(folder, ignore_errors=True)  # not a bundle (checked above): a leftover, if anything
        staging.rename(folder)
    log.info("downloaded %s version %s to %s", tracking.model_name, version, folder)
    return folder


MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def fetch_registry_model(uri: str) -> Path:
    """MODEL_URI (models:/NAME@ALIAS or models:/NAME/VERSION): the version's verified bundle in a local cache.

    A registry.json beside it records which version it is, so GET /model can say what serves.
    """
    from tweetops.inference import REGISTRY_FILE

    match = MODEL_URI.match(uri.strip())
    if not match:
        raise TweetopsError(f"MODEL_URI {uri!r} must look like models:/NAME@ALIAS or models:/NAME/VERSION.")
    if not mlflow_installed():
        raise TweetopsError(f"MODEL_URI {uri} needs MLflow, which is not installed here; "
                            "install requirements-train.txt or set MODEL_DIR to a bundle instead.")
    from mlflow.exceptions import MlflowException

    name, alias = match["name"], match["alias"]
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or embedded_uri(Path(os.environ.get("TWEETOPS_HOME", ".")))[0]
    tracking = Tracking(uri=tracking_uri, artifact_root=None, experiment="", model_name=name)
    client = tracking.client()
    try:
        mv = (client.get_model_version_by_alias(name, alias) if alias
              else client.get_model_version(name, match["version"]))
    except MlflowException as exc:
        raise TweetopsError(f"MODEL_URI {uri} is not in the registry at {tracking_uri} "
                            f"({str(exc).splitlines()[0][:200]}); `tweetops registry status` lists the versions.")
    cache = Path(os.environ.get("TWEETOPS_MODEL_CACHE") or Path(tempfile.gettempdir()) / "tweetops-registry")
    folder = fetch_bundle(tracking, str(mv.version), cache / name / str(mv.version), mv.tags.get("model_sha256"))
    write_json(folder / REGISTRY_FILE, {"name": name, "version": str(mv.version), "alias": alias, "uri": uri,
                                        "run_id": mv.tags.get("run_id")})
    log.info("MODEL_URI %s is %s version %s (run %s)", uri, name, mv.version, mv.tags.get("run_id"))
    return folder


def open_registry(config: Config, quiet: bool = False) -> LocalRegistry | MlflowRegistry:
    tracking = tracking_for(config, quiet)
    if tracking is None:
        return LocalRegistry(config.paths.models)
    return MlflowRegistry(tracking, config.paths.models)


def status_lines(store: LocalRegistry | MlflowRegistry) -> list[str]:
    where = f"MLflow {store.tracking.uri}, model {store.name}" if store.where == "mlflow" else f"local {store.models}"
    versions = store.versions()
    lines = [f"registry: {where}", f"{'version':<20} {'run_id':<20} {'aliases':<28} gate"]
    for v in versions:
        gate = v.tags.get("gate.sentence") or v.tags.get("gate", "")
        lines.append(f"{v.version:<20} {v.run_id:<20} {','.join(sorted(v.aliases)) or '-':<28} {gate[:90]}")
    if not versions:
        lines.append("(no versions yet: run the pipeline)")
    history = [h["version"] if isinstance(h, dict) else h for h in (store.history() if versions else [])]
    lines.append(f"champion history (oldest first): {', '.join(history) or 'none'}")
    return lines


def add_parser(sub) -> None:
    p = sub.add_parser("registry", help="show, promote or roll back the champion model")
    p.add_argument("action", choices=("status", "promote", "rollback"))
    p.add_argument("version", nargs="?", help="for promote: the registry version (local store: the run id)")
    p.add_argument("--params", default=None, help="params file (default: params.yaml or TWEETOPS_PARAMS)")
    p.add_argument("--no-tracking", action="store_true", help="use the local models/champion, not MLflow")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default: LOG_LEVEL or INFO)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from tweetops.config import load_config

    config = load_config(args.params, **({"tracking.enabled": False} if args.no_tracking else {}))
    store = open_registry(config)
    if args.action == "promote" and not args.version:
        raise TweetopsError("registry promote needs a VERSION; `tweetops registry status` lists them.")
    with store.guard():
        if args.action == "status":
            print("\n".join(status_lines(store)))
        elif args.action == "promote":
            store.promote(args.version, "promoted by hand (tweetops registry promote)")
            print(f"champion is now version {args.version}")
        else:
            old, new = store.rollback()
            print(f"rolled back: champion moved from version {old} to version {new}")
    return 0
