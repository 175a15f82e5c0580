"""Who the champion is: the MLflow model registry when tracking is on, else models/champion.

Only published models enter a registry: `tweetops publish` registers a run's bundle as a new version
and moves the `champion` alias to it, once its gate said yes. Every change of champion is appended
to a champion history (a registered-model tag in MLflow, models/champions.json locally), so
`rollback` can move the champion back to the one before and `promote` back to any published version.
Versions are named by their bundle's digest (the sha256 of its sealed manifest), so a bundle that
changed after it was published is refused. With tracking on the registry alias is the truth and the
local models/champion symlink mirrors it (the bundle is downloaded when it is not here); with tracking off
models/champions.json is, and the link mirrors its last champion.

Each change of champion writes the truth in one step (the alias, or the history file replaced whole) and
the mirrors after it, so a change killed half way leaves a champion whose mirrors lag. Every command that
changes the champion first brings them in line (`sync`), so running the killed command again repairs it.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import io
import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tweetops.catalog import CHAMPION, Catalog
from tweetops.errors import TweetopsError
from tweetops.io.files import atomic_path, read_record, write_json
from tweetops.model.bundle import MANIFEST_FILE, digest, is_bundle, verify_bundle
from tweetops.release import render
from tweetops.release.tracking import Tracking, log_run, mlflow_installed, speaking_to, store_uri, tracking_for
from tweetops.settings import TrackingParams, environment

log = logging.getLogger("tweetops.registry")
HISTORY_TAG = "champion_history"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Version:
    version: str
    run_id: str
    digest: str | None = None
    aliases: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    since: str | None = None  # for the champion: "<when>: <how>" it became champion, as the registry recorded it

    @property
    def label(self) -> str:
        return self.version if self.version == self.run_id else f"{self.version} (run {self.run_id})"

    def identity(self) -> dict:
        return {"version": self.version, "run_id": self.run_id, "digest": self.digest}


@contextlib.contextmanager
def locked(catalog: Catalog):
    """One registry change at a time on this machine: a publication checks the champion and moves it
    under this lock, so two at once cannot both win (MLflow has no compare-and-set for an alias)."""
    catalog.models.mkdir(parents=True, exist_ok=True)
    with open(catalog.models / ".registry.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        link = catalog.champion
        if link.exists() and not link.is_symlink():  # checked before any change: nothing is half done
            raise TweetopsError(f"{link} is a folder, not the link to the champion's bundle that tweetops keeps "
                                "there; move it away (to serve a bundle of your own, set MODEL_DIR) and retry.")
        yield


def published_digests(catalog: Catalog) -> dict[str, str]:
    """models/.published: the digest of each bundle models/champion was pointed at ({} for the empty trace older
    versions left), so serving can tell the champion's folder still holds the bundle that was published."""
    try:
        trace = json.loads(catalog.published_trace.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return trace if isinstance(trace, dict) else {}


def _record_published(catalog: Catalog, run_id: str) -> None:
    """Add the run's bundle digest to models/.published (written whole); before the link moves, so a kill between
    the two leaves every run the link may name recorded. A folder that is not a bundle (lost: `registry promote`
    is how it is mended) records nothing, rather than stopping the mend."""
    bundle = catalog.bundle(run_id)
    if is_bundle(bundle):
        write_json(catalog.published_trace, {**published_digests(catalog), run_id: digest(bundle)})


def point_champion(catalog: Catalog, run_id: str) -> Path:
    """Atomically make models/champion name the run's bundle folder (a relative symlink)."""
    _record_published(catalog, run_id)
    link = catalog.champion
    with atomic_path(link) as tmp:
        tmp.unlink()
        tmp.symlink_to(str(run_id))
    return link


def _named(catalog: Catalog) -> str | None:
    """The run models/champion names, None without the link."""
    return Path(catalog.champion.readlink()).name if catalog.champion.is_symlink() else None


def _follow(catalog: Catalog, run_id: str, fetch) -> list[str]:
    """Point models/champion at the champion's run (fetching its bundle first) when it names another; what was
    repaired. models/.published is left too: a champion was published here."""
    named = _named(catalog)
    if named == run_id:
        if run_id not in published_digests(catalog):
            _record_published(catalog, run_id)
        return []
    fetch()
    point_champion(catalog, run_id)
    return [f"models/champion named {named or 'nothing'}, now {run_id}"]


def _checked(bundle: Path, expected: str | None, what: str) -> Path:
    """The bundle, verified, and the very bundle that was published (same digest)."""
    verify_bundle(bundle)
    if expected and digest(bundle) != expected:
        raise TweetopsError(f"{bundle} is not the bundle {what} published (its manifest's sha256 differs); "
                            "move it away and retry.")
    return bundle


class LocalRegistry:
    """Tracking off: the champion is models/champion; its history is models/champions.json."""

    where = "local"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def guard(self):
        return locked(self.catalog)

    def _entries(self) -> list[dict]:
        """Every entry of models/champions.json, in order: each publication or promotion, rolled back or not."""
        path = self.catalog.champion_history
        entries = read_record(path, list) if path.is_file() else []
        if not all(isinstance(e, dict) and isinstance(e.get("version"), str) for e in entries):
            raise TweetopsError(f"{path} is damaged (not the JSON tweetops writes there); restore it, or delete it "
                                "and run again what writes it.")
        return entries

    def history(self) -> list[dict]:
        """The champions in order, the last the current one: the entries not rolled back."""
        return [entry for entry in self._entries() if not entry.get("rolled_back")]

    def _published(self) -> dict[str, dict]:
        """Each published version's first entry: when and why it was published (a rollback unpublishes none)."""
        published = {}
        for entry in self._entries():
            published.setdefault(entry["version"], entry)
        return published

    def _linked_elsewhere(self) -> bool:
        """Whether models/champion names a run this registry never published (published with tracking on, where
        MLflow holds the history, or linked by hand): then the link, not the local history, names the champion."""
        named = _named(self.catalog)
        return named is not None and named not in self._published()

    def champion(self) -> Version | None:
        """The history's last champion; models/champion's run, with `since` None, when the history is empty or
        never published the run the link names."""
        history = self.history()
        if not history or self._linked_elsewhere():
            run_id = _named(self.catalog)
            return Version(version=run_id, run_id=run_id, aliases=[CHAMPION]) if run_id else None
        last = history[-1]
        return Version(version=last["version"], run_id=last["version"], digest=last.get("digest"), aliases=[CHAMPION],
                       tags=self._published()[last["version"]],
                       since=last.get("since") or f"{last.get('at', '')}: {last.get('reason', '')}")

    def sync(self) -> str | None:
        """Point models/champion at the history's champion when a killed command left it behind; what was
        repaired. A link to a run published elsewhere is left: it is not behind."""
        history = self.history()
        if not history or self._linked_elsewhere():
            return None
        return "; ".join(_follow(self.catalog, history[-1]["version"], lambda: None)) or None

    def history_lags(self) -> bool:
        return False  # the history is the truth here

    def rolled_back_runs(self) -> set[str]:
        """Runs rolled back from and not champion again."""
        champion = self.champion()
        return {e["version"] for e in self._entries() if e.get("rolled_back")} - {champion and champion.run_id}

    def _commit(self, entries: list[dict]) -> Version:
        """Write the history whole (the local registry's truth, replaced in one rename), then its mirror."""
        write_json(self.catalog.champion_history, entries)
        _follow(self.catalog, self.history()[-1]["version"], lambda: None)  # even over a link from elsewhere
        return self.champion()

    def crowned(self, bundle_digest: str) -> Version | None:
        """The version holding this bundle, if it was ever published here (every local version was champion)."""
        return next((v for v in self.versions() if v.digest == bundle_digest), None)

    def fetch(self, version: Version) -> Path:
        return self.catalog.bundle(version.run_id)

    def publish(self, manifest: dict, bundle: Path, reason: str) -> Version:
        run_id = manifest["run_id"]
        if Path(bundle).resolve() != self.catalog.bundle(run_id).resolve():
            raise TweetopsError(f"the local registry publishes bundles under {self.catalog.models}; {bundle} is not.")
        entry = {"version": run_id, "run_id": run_id, "digest": digest(bundle), "at": _now(), "reason": reason,
                 "macro_f1": manifest["metrics"]["macro_f1"]}
        return self._commit([*self._entries(), entry])

    def promote(self, version: str, reason: str) -> Version:
        published = self._published()
        if version not in published:
            raise TweetopsError(f"{version} was never published, so it cannot be champion; `tweetops registry "
                                "status` lists the published versions (`tweetops publish RUN_ID` publishes one).")
        # A new entry, not the first one's marks: a copied `rolled_back` would hide it from the history.
        entry = {**{k: v for k, v in published[version].items() if k not in ("rolled_back", "since")},
                 "at": _now(), "reason": reason}
        _checked(self.catalog.bundle(version), entry.get("digest"), "the local registry")
        return self._commit([*self._entries(), entry])

    def rollback(self) -> tuple[str, str]:
        entries = self._entries()
        live = [i for i, entry in enumerate(entries) if not entry.get("rolled_back")]
        current = entries[live[-1]]["version"] if live else None
        earlier = [i for i in live if entries[i]["version"] != current]  # the previous *different* champion
        if not earlier:
            raise TweetopsError("there is no earlier champion to roll back to.")
        previous = entries[earlier[-1]]
        _checked(self.catalog.bundle(previous["version"]), previous.get("digest"), "the local registry")
        # The entries after it stay, marked rolled back (their version stays published, and can be promoted
        # again); the previous one keeps when and why it first became champion and says since when it is again.
        now = _now()
        for i in live[live.index(earlier[-1]) + 1:]:
            entries[i] = {**entries[i], "rolled_back": now}
        entries[earlier[-1]] = {**previous, "since": f"{now}: rolled back to (tweetops registry rollback)"}
        self._commit(entries)
        return current, previous["version"]

    def versions(self) -> list[Version]:
        champion = self.champion()
        return [Version(version=v, run_id=v, digest=e.get("digest"), tags=e,
                        aliases=[CHAMPION] if champion and champion.version == v else [])
                for v, e in sorted(self._published().items())]


class MlflowRegistry:
    """Tracking on: the registered model's aliases are the truth; models/champion mirrors `champion`."""

    where = "mlflow"

    def __init__(self, tracking: Tracking, catalog: Catalog):
        self.tracking = tracking
        self.name = tracking.model_name
        self.catalog = catalog
        self.client = tracking.client()

    @contextlib.contextmanager
    def guard(self):
        """MLflow client errors inside become one sentence naming the server; changes take the local lock."""
        with locked(self.catalog), speaking_to(self.tracking.uri):
            yield

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
        return Version(version=str(mv.version), run_id=mv.tags.get("run_id", ""), digest=mv.tags.get("bundle_digest"),
                       aliases=list(mv.aliases), tags=dict(mv.tags), since=mv.tags.get("champion_since"))

    def champion(self) -> Version | None:
        mv = self._by_alias(CHAMPION)
        return self._view(mv) if mv else None

    def fetch(self, version: Version) -> Path:
        """models/<run_id> holding the version's verified bundle (downloaded when missing)."""
        if not version.run_id:
            raise TweetopsError(f"{self.name} version {version.version} has no run_id tag; tweetops did not "
                                "register it.")
        return fetch_bundle(self.tracking, version.version, self.catalog.bundle(version.run_id), version.digest)

    def history(self) -> list[str]:
        model = self.client.get_registered_model(self.name)
        return json.loads(model.tags.get(HISTORY_TAG, "[]"))

    def sync(self) -> str | None:
        """Bring the mirrors in line with the alias when a killed command left them behind: the history tag ends
        with the champion, models/champion names its bundle; what was repaired."""
        champion = self.champion()
        if champion is None:
            return None
        history, repaired = self.history(), []
        if history[-1:] != [champion.version]:
            self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps([*history, champion.version]))
            repaired.append(f"the champion history now ends with version {champion.version}")
        repaired += _follow(self.catalog, champion.run_id, lambda: self.fetch(champion))
        return "; ".join(repaired) or None

    def history_lags(self) -> bool:
        """Whether the champion history tag does not end with the alias's version (a change killed half way)."""
        champion = self.champion()
        return champion is not None and self.history()[-1:] != [champion.version]

    def rolled_back_runs(self) -> set[str]:
        """Runs of versions rolled back from and not champion again."""
        champion = self.champion()
        return {v.run_id for v in self.versions() if "rolled_back" in v.tags} - {champion and champion.run_id}

    def crowned(self, bundle_digest: str) -> Version | None:
        """The version holding this bundle, if it was ever champion (in the history, or rolled back from); a
        version whose publication was killed before its alias moved is not: publishing it again crowns it."""
        held = [v for v in self.versions() if v.digest == bundle_digest]
        history = self.history() if held else []
        return next((v for v in held if v.version in history or "rolled_back" in v.tags), None)

    def _crown(self, view: Version, reason: str) -> Version:
        self.client.set_model_version_tag(self.name, view.version, "champion_since", f"{_now()}: {reason}"[:5000])
        # The alias is the commit: killed before it, the champion did not change; after it, sync repairs the rest.
        self.client.set_registered_model_alias(self.name, CHAMPION, view.version)
        self.sync()
        return self._view(self._version(view.version))

    def publish(self, manifest: dict, bundle: Path, reason: str) -> Version:
        """Register the run's logged model (logging it first if training did not) and make it champion; a version
        already holding the bundle (its publication killed before the alias moved) is crowned, not registered again."""
        import mlflow

        held = next((v for v in self.versions() if v.digest == digest(bundle)), None)
        if held is not None:
            return self._crown(held, reason)
        record = self.catalog.tracking_record(manifest["run_id"])
        logged = read_record(record, dict) if record.is_file() else {}
        if logged.get("tracking_uri") != self.tracking.uri:
            logged = log_run(self.tracking, manifest, bundle, self.catalog.report_dir(manifest["run_id"]))
        mlflow.set_tracking_uri(self.tracking.uri)  # the logged model is looked up in the tracking store
        mlflow.set_registry_uri(self.tracking.uri)
        gate = manifest["gate"]
        tags = {"run_id": manifest["run_id"], "mlflow_run_id": logged["mlflow_run_id"], "bundle_digest": digest(bundle),
                "macro_f1": render.score(manifest["metrics"]["macro_f1"]), "gate.sentence": gate["sentence"][:5000],
                "published": f"{_now()}: {reason}"[:5000]}
        # Tagged as it is created: a version without its bundle's digest could not be found again after a kill.
        with contextlib.redirect_stderr(io.StringIO()):  # its own two print()s would break JSON log lines
            mv = mlflow.register_model(logged["model_uri"], self.name, tags=tags)
        log.info("registered version %s of model %s (run %s)", mv.version, self.name, manifest["run_id"])
        return self._crown(self._view(self._version(str(mv.version))), reason)

    def promote(self, version: str, reason: str) -> Version:
        view = self._view(self._version(version))
        self.fetch(view)  # refuses a bundle whose hashes do not match before the alias moves
        return self._crown(view, reason)

    def rollback(self) -> tuple[str, str]:
        history = self.history()
        earlier = [i for i, version in enumerate(history) if version != history[-1]]  # the previous *different* one
        if not earlier:
            raise TweetopsError(f"{self.name} has no earlier champion to roll back to.")
        previous = self._view(self._version(history[earlier[-1]]))
        self.fetch(previous)
        now = _now()
        self.client.set_model_version_tag(self.name, history[-1], "rolled_back", now)
        self.client.set_model_version_tag(self.name, previous.version, "champion_since",
                                          f"{now}: rolled back to (tweetops registry rollback)")
        # The history before the alias: killed between them, sync appends the unmoved champion back (as if the
        # rollback never began); the other order would leave a state sync could not tell from a half promotion.
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[:earlier[-1] + 1]))
        self.client.set_registered_model_alias(self.name, CHAMPION, previous.version)
        self.sync()
        return history[-1], previous.version

    def versions(self) -> list[Version]:
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(self.name).aliases  # search results omit aliases
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":  # nothing published yet
                return []
            raise
        views = [self._view(mv) for mv in self.client.search_model_versions(f"name = '{self.name}'")]
        for view in views:
            view.aliases = sorted(alias for alias, version in aliases.items() if str(version) == view.version)
        return sorted(views, key=lambda v: int(v.version))


def fetch_bundle(tracking: Tracking, version: str, folder: Path, expected_digest: str | None = None) -> Path:
    """The version's bundle in `folder`, verified, and the very bundle that was published (same digest);
    downloaded only when `folder` does not already hold it."""
    import mlflow.artifacts

    folder = Path(folder)
    if is_bundle(folder):
        return _checked(folder, expected_digest, f"{tracking.model_name} version {version}")
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
        _checked(staging, expected_digest, f"{tracking.model_name} version {version}")  # before it takes the name
        shutil.rmtree(folder, ignore_errors=True)  # not a bundle (checked above): a leftover, if anything
        staging.rename(folder)
    log.info("downloaded %s version %s to %s", tracking.model_name, version, folder)
    return folder


MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def fetch_registry_model(uri: str, catalog: Catalog) -> tuple[Path, dict]:
    """MODEL_URI (models:/NAME@ALIAS or models:/NAME/VERSION): the version's verified bundle in a local
    cache, and which version it is ({name, version, alias, uri, run_id, champion})."""
    match = MODEL_URI.match(uri.strip())
    if not match:
        raise TweetopsError(f"MODEL_URI {uri!r} must look like models:/NAME@ALIAS or models:/NAME/VERSION.")
    if not mlflow_installed():
        raise TweetopsError(f"MODEL_URI {uri} needs MLflow, which is not installed here; "
                            "install requirements-train.txt or set MODEL_DIR to a bundle instead.")
    from mlflow.exceptions import MlflowException

    name, alias = match["name"], match["alias"]
    tracking_uri = store_uri(catalog)[0]
    tracking = Tracking(uri=tracking_uri, artifact_root=None, experiment="", model_name=name)
    client = tracking.client()
    try:
        mv = (client.get_model_version_by_alias(name, alias) if alias
              else client.get_model_version(name, match["version"]))
    except MlflowException as exc:
        raise TweetopsError(f"MODEL_URI {uri} is not in the registry at {tracking_uri} "
                            f"({str(exc).splitlines()[0][:200]}); `tweetops registry status` lists the versions.")
    cache = environment().model_cache or Path(tempfile.gettempdir()) / "tweetops-registry"
    folder = fetch_bundle(tracking, str(mv.version), Path(cache) / name / str(mv.version), mv.tags.get("bundle_digest"))
    info = {"name": name, "version": str(mv.version), "alias": alias, "uri": uri, "run_id": mv.tags.get("run_id"),
            "champion": CHAMPION in (mv.aliases or [alias])}
    log.info("MODEL_URI %s is %s version %s (run %s)", uri, name, mv.version, info["run_id"])
    return folder, info


def open_registry(p: TrackingParams, catalog: Catalog, quiet: bool = False) -> LocalRegistry | MlflowRegistry:
    tracking = tracking_for(p, catalog, quiet)
    if tracking is None:
        return LocalRegistry(catalog)
    return MlflowRegistry(tracking, catalog)


def repair_note(repaired: str | None) -> str:
    """How a command that found its work done ends its sentence: what `sync` repaired, or that nothing changed."""
    return f"repaired: {repaired}." if repaired else "nothing changed."


def promote(store: LocalRegistry | MlflowRegistry, version: str, reason: str) -> str:
    """`tweetops registry promote VERSION`: the champion again changes nothing but its lagging mirrors."""
    repaired = store.sync()
    current = store.champion()
    if current is not None and current.version == version:
        return f"version {version} is already the champion; {repair_note(repaired)}"
    store.promote(version, reason)
    return f"champion is now version {version}"


def rollback(store: LocalRegistry | MlflowRegistry) -> str:
    """`tweetops registry rollback`, unless the last change of champion was killed half way (perhaps this very
    rollback: the history lagged the champion, or models/champion still named the run rolled back from), where
    rolling back on top of it could roll back twice; say so instead. A link that is merely behind (a fresh clone,
    or a machine that did not publish) is brought up to date and the rollback goes ahead."""
    named = _named(store.catalog)
    cut_short = store.history_lags() or (named is not None and named in store.rolled_back_runs())
    repaired = store.sync()
    if cut_short and repaired:
        return (f"the last change of champion was cut short; repaired: {repaired}; nothing rolled back: version "
                f"{store.champion().version} is the champion (`tweetops registry rollback` again rolls back from it).")
    old, new = store.rollback()
    return f"rolled back: champion moved from version {old} to version {new}"


def status_lines(store: LocalRegistry | MlflowRegistry) -> list[str]:
    """`tweetops registry status`: the published versions, which is champion, and how each got there."""
    where = f"MLflow {store.tracking.uri}, model {store.name}" if store.where == "mlflow" else \
        f"local {store.catalog.models}"
    versions = store.versions()
    lines = [f"registry: {where}", f"{'version':<20} {'run_id':<20} {'aliases':<12} {'macro-F1':>8}  published"]
    for v in versions:
        macro = v.tags.get("macro_f1")
        published = v.tags.get("published") or f"{v.tags.get('at', '')}: {v.tags.get('reason', '')}"
        try:
            score = render.score(float(macro)) if macro is not None else "n/a"
        except (TypeError, ValueError):
            raise TweetopsError(f"version {v.version}'s recorded macro-F1 ({macro!r}) is not a number: the "
                                f"{store.where} registry's record is damaged; restore it.") from None
        lines.append(f"{v.version:<20} {v.run_id:<20} {','.join(sorted(v.aliases)) or '-':<12} "
                     f"{score:>8}  {published[:90]}")
    if not versions:
        lines.append("(nothing published in this registry yet: `tweetops run`, or `tweetops publish RUN_ID` after a "
                     "run)")
    history = [h["version"] if isinstance(h, dict) else h for h in (store.history() if versions else [])]
    champion = store.champion()
    if champion and store.where == "local" and champion.since is None:
        lines.append(f"champion: {champion.label}; champion history (oldest first): not recorded here "
                     f"({store.catalog.champion} names {champion.run_id}, but the local registry never published "
                     "it: it was published with tracking on, or linked by hand; `tweetops registry status` without "
                     "--no-tracking shows MLflow's registry)")
        return lines
    lines.append(f"champion: {champion.label if champion else 'none'}; "
                 f"champion history (oldest first): {', '.join(history) or 'none'}")
    if champion:
        lines.append(f"champion since: {champion.since or 'not recorded'}")
        if _named(store.catalog) != champion.run_id:  # a change of champion killed half way, or a hand-made link
            lines.append(f"{store.catalog.champion} names {_named(store.catalog) or 'nothing'}, not the champion's "
                         f"bundle: `tweetops registry promote {champion.version}` points it back.")
    return lines
