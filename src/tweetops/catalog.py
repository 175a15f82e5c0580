"""Where every artefact lives under the project root, named once for every layer.

The stages write and read their files through it, the release chain finds bundles, reports and the
champion through it, and serving and monitoring find the champion and their own outputs through it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tweetops.errors import TweetopsError

CHAMPION = "champion"  # models/champion: the published model, what serving loads by default
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RESERVED = {CHAMPION, "champions.json", "monitoring"}  # names under models/ and reports/ that are not runs


def check_run_id(run_id: str) -> str:
    """A run id names folders under models/ and reports/: a plain name, never a path or a reserved name."""
    if not RUN_ID.fullmatch(str(run_id)) or run_id in RESERVED or ".." in run_id:
        raise TweetopsError(f"run id {run_id!r} cannot name a run: use up to 64 letters, digits, '.', '_' or '-', "
                            f"and none of {', '.join(sorted(RESERVED))} (TWEETOPS_RUN_ID sets it).")
    return run_id


@dataclass(frozen=True)
class Catalog:
    """`staging` set: the catalog of a whole run in progress (`tweetops run`), whose stages write their data
    outputs, and the run's own models/<run_id> and reports/<run_id>, under that folder instead of the root;
    they are published there only when every stage succeeded. What the run reads from elsewhere (the
    champion, the registry, the history) stays under the root."""

    root: Path
    staging: Path | None = None
    run_id: str | None = None  # the staged run

    def _home(self, run_id: str | None = None) -> Path:
        """Where an output lives: the staging folder for the staged run's, else the root."""
        return self.staging if self.staging and run_id in (None, self.run_id) else self.root

    def published(self, path: Path) -> Path:
        """Where a staged path will be once the run is published (the path itself when nothing is staged)."""
        path = Path(path)
        return self.root / path.relative_to(self.staging) if self.staging and path.is_relative_to(self.staging) \
            else path

    def stamp(self, stage: str) -> Path:
        """Written when a stage finishes: the run id it finished for, and what it returned."""
        return self._home() / "data" / "stages" / f"{stage}.json"

    # -- stage 1: data_ingestion ------------------------------------------------------------
    @property
    def interim(self) -> Path:
        return self._home() / "data" / "interim"

    @property
    def ingested(self) -> Path:
        return self.interim / "ingested.parquet"

    @property
    def ingestion_record(self) -> Path:
        return self.interim / "ingestion.json"

    @property
    def run_record(self) -> Path:
        """The run's id and resolved params, written once by stage 1 and read by every later stage."""
        return self.interim / "run.json"

    # -- stages 2 and 3: data_preparation, preprocessing ------------------------------------
    @property
    def processed(self) -> Path:
        return self._home() / "data" / "processed"

    def split(self, part: str) -> Path:
        """train, test or quarantine."""
        return self.processed / f"{part}.parquet"

    def clean(self, part: str) -> Path:
        """train or test with the normalised text column."""
        return self.processed / f"{part}_clean.parquet"

    @property
    def preparation_record(self) -> Path:
        return self.processed / "preparation.json"

    # -- stages 4 to 6: feature_engineering, clustering, model_training ---------------------
    @property
    def features(self) -> Path:
        return self._home() / "data" / "features"

    @property
    def transformer(self) -> Path:
        return self.features / "features.pickle"

    def matrix(self, part: str) -> Path:
        return self.features / f"X_{part}.npz"

    @property
    def pseudo_labels(self) -> Path:
        return self.features / "pseudo_labels.parquet"

    @property
    def clusters_record(self) -> Path:
        return self.features / "clusters.json"

    # -- bundles, reports and the champion --------------------------------------------------
    @property
    def models(self) -> Path:
        return self.root / "models"

    def bundle(self, run_id: str) -> Path:
        return self._home(run_id) / "models" / check_run_id(run_id)

    @property
    def champion(self) -> Path:
        """A relative symlink to the champion's bundle folder, moved only by `tweetops publish`."""
        return self.models / CHAMPION

    @property
    def published_trace(self) -> Path:
        """Written when a champion is linked here, by either registry: with tracking on, MLflow holds the history
        and models/champion is the only other local sign, so a lost link would look like "never published". It
        holds each linked run's bundle digest (release.registry.published_digests)."""
        return self.models / ".published"

    @property
    def champion_history(self) -> Path:
        """Every publication and rollback of the local registry, oldest first."""
        return self.models / "champions.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report_dir(self, run_id: str) -> Path:
        return self._home(run_id) / "reports" / check_run_id(run_id)

    def verdict(self, run_id: str) -> Path:
        """The gate's verdict on the run (also in the bundle's manifest), for people and workflows."""
        return self.report_dir(run_id) / "gate.json"

    def tracking_record(self, run_id: str) -> Path:
        """Which MLflow run logged this run (written by training when tracking is on)."""
        return self.report_dir(run_id) / "tracking.json"

    @property
    def monitoring_reports(self) -> Path:
        return self.reports / "monitoring"

    @property
    def mlruns(self) -> Path:
        """The embedded MLflow store, used when MLFLOW_TRACKING_URI is unset."""
        return self.root / "mlruns"

    # -- serving ----------------------------------------------------------------------------
    @property
    def history_db(self) -> Path:
        return self.root / "data" / "history.db"

    @property
    def history_spool(self) -> Path:
        return self.root / "data" / "history-spool"
