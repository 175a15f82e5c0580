"""`tweetops publish RUN_ID`: the end of the release chain. It registers the run's bundle as a new
version, moves the `champion` alias to it and points models/champion at it, and it does so only when:

- the bundle verifies (seal, every file's hash, the signature when TWEETOPS_BUNDLE_KEY is set);
- its gate verdict (sealed in the manifest by the model_training stage) says promote;
- the champion it was judged against is still the champion (a verdict against an older champion is
  stale: retrain, so the new model faces the current one on the same rows).

The retrain workflow runs it after the image built from the bundle passed its smoke test, so a model
whose image does not start never becomes champion. Publishing the champion again changes nothing but
the local mirrors a killed publication left behind (models/champion, the history); a bundle published
before and no longer champion (rolled back) is refused: promoting its version is the deliberate way back.
"""
from __future__ import annotations

import logging

from tweetops.errors import TweetopsError
from tweetops.model.bundle import digest, verify_bundle
from tweetops.release.registry import open_registry, repair_note
from tweetops.settings import Config

log = logging.getLogger("tweetops.publish")


class NotPublished(TweetopsError):
    """The gate's verdict, or the registry's state, forbids publishing this run."""


def publish(config: Config, run_id: str, reason: str = "the gate promoted it") -> dict:
    bundle = config.catalog.bundle(run_id)
    if not bundle.exists():
        raise TweetopsError(f"no bundle for run {run_id} at {bundle}; `ls {config.catalog.models}` lists the runs.")
    manifest = verify_bundle(bundle)
    verdict = manifest.get("gate")
    if not isinstance(verdict, dict) or "promote" not in verdict:
        raise TweetopsError(f"run {run_id} holds no gate verdict; retrain it with `tweetops run`.")
    if not verdict["promote"]:
        raise NotPublished(f"run {run_id} was not promoted by its gate ({verdict['sentence']}); nothing published.")
    store = open_registry(config.params.tracking, config.catalog, quiet=True)
    if verdict.get("registry") not in (None, store.where):
        raise NotPublished(f"run {run_id} was judged against the {verdict['registry']} registry's champion but this "
                           f"publishes to the {store.where} one; publish with the same tracking setting or retrain.")
    with store.guard():
        repaired = store.sync()
        current = store.champion()
        judged = verdict.get("champion_id") or None
        if current is not None and current.digest == digest(bundle):
            log.info("run %s is already the champion (%s); %s", run_id, current.label, repair_note(repaired))
            return {"run_id": run_id, "version": current.version, "registry": store.where, "published": False,
                    "sentence": f"run {run_id} is already the champion (version {current.version}); "
                                f"{repair_note(repaired)}"}
        now = current.identity() if current else None
        if (judged or {}).get("digest") != (now or {}).get("digest"):
            was = judged["name"] if judged else "none"
            raise NotPublished(f"the champion changed since run {run_id} was judged (then: {was}, now: "
                               f"{current.label if current else 'none'}); retrain so the gate compares with the "
                               "current champion.")
        earlier = store.crowned(digest(bundle))
        if earlier is not None:  # publishing it again would silently undo the rollback that moved away from it
            raise NotPublished(f"run {run_id} was published before as version {earlier.version}, no longer the "
                               f"champion; `tweetops registry promote {earlier.version}` makes it the champion again.")
        version = store.publish(manifest, bundle, reason)
    log.info("published run %s as %s version %s: it is the champion", run_id, store.where, version.version)
    return {"run_id": run_id, "version": version.version, "registry": store.where, "published": True,
            "sentence": f"published: run {run_id} is the champion ({store.where} registry version {version.version})."}
