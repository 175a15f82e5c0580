"""Stage 5: cluster the training tweets and give pseudo-labels to the unlabelled ones.

MiniBatchKMeans on a TruncatedSVD projection of the stage-4 features. Each unlabelled row gets
the majority gold label of its cluster, with a confidence: the smoothed share of that label
among the cluster's gold rows, so a cluster with little gold evidence gives low confidence.
Reports cluster sizes, top terms, purity and ARI against gold, and the pseudo-labels' accuracy
against the hidden gold labels (which the label-budget mask hid from training).
"""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize

from tweetops.errors import TweetopsError
from tweetops.io.files import write_json, write_parquet, write_text
from tweetops.logs import timed
from tweetops.model import LABELS
from tweetops.pipeline.options import stage_main
from tweetops.pipeline.runs import Run
from tweetops.pipeline.sampling import fit_sample

log = logging.getLogger("tweetops.clustering")


def cluster(X, n_clusters: int, n_components: int, seed: int, fit_rows: int) -> np.ndarray:
    """Cluster ids for every row; the projection and centroids are fitted on a fixed-seed sample."""
    sample = fit_sample(X.shape[0], fit_rows, seed)
    n_components = max(2, min(n_components, X.shape[1] - 1, len(sample) - 1))
    svd = TruncatedSVD(n_components=n_components, random_state=seed).fit(X[sample])
    kmeans = MiniBatchKMeans(n_clusters=min(n_clusters, len(sample)), random_state=seed, n_init=3, batch_size=4096)
    # normalize: cosine geometry, TF-IDF directions rather than lengths
    kmeans.fit(normalize(svd.transform(X[sample])))
    return kmeans.predict(normalize(svd.transform(X)))


def pseudo_label(clusters: np.ndarray, labels: pd.Series, labeled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority gold label per cluster and its Laplace-smoothed share as confidence."""
    gold = pd.crosstab(clusters[labeled], labels[labeled].to_numpy()).reindex(columns=list(LABELS), fill_value=0)
    counts = gold.reindex(range(clusters.max() + 1), fill_value=0).to_numpy()
    share = (counts + 1) / (counts.sum(axis=1, keepdims=True) + len(LABELS))
    best = share.argmax(axis=1)
    return np.array(LABELS, dtype=object)[best][clusters], share.max(axis=1)[clusters]


def top_terms(X, clusters: np.ndarray, names: np.ndarray, k: int = 8) -> dict[int, list[str]]:
    word = np.array([n.startswith("word__") for n in names])
    X = sparse.csr_matrix(X)[:, word]
    words = np.array([n.removeprefix("word__") for n in names[word]])
    terms = {}
    for c in np.unique(clusters):
        centroid = np.asarray(X[clusters == c].mean(axis=0)).ravel()
        terms[int(c)] = words[np.argsort(centroid)[::-1][:k]].tolist()
    return terms


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    table = pd.crosstab(clusters, labels)
    return float(table.max(axis=1).sum() / table.to_numpy().sum())


def render_report(summary: dict, sizes: pd.DataFrame, terms: dict) -> str:
    lines = [f"# Clusters (run {summary['run_id']})", "",
             f"{summary['n_clusters']} clusters of {summary['rows']:,} training tweets "
             f"(MiniBatchKMeans on a {summary['svd_components']}-dimension TruncatedSVD projection).", "",
             f"- purity against gold labels: {summary['purity']:.3f}",
             f"- adjusted Rand index against gold labels: {summary['ari']:.3f}",
             f"- unlabelled rows: {summary['unlabeled']:,}; pseudo-labelled with confidence >= "
             f"{summary['min_confidence']}: {summary['confident']:,}"]
    if summary["pseudo_label_accuracy"] is not None:
        confident = summary["confident_accuracy"]
        lines.append("- pseudo-label accuracy against the hidden gold labels: "
                     f"all {summary['pseudo_label_accuracy']:.3f}, "
                     f"confident only {'n/a' if confident is None else f'{confident:.3f}'}")
    lines += ["", "| cluster | size | gold negative | gold neutral | gold positive | top terms |",
              "|---:|---:|---:|---:|---:|---|"]
    for c, row in sizes.iterrows():
        lines.append(f"| {c} | {row['size']} | {row['negative']} | {row['neutral']} | {row['positive']} | "
                     f"{', '.join(terms[c])} |")
    return "\n".join(lines) + "\n"


def stage(run: Run) -> dict:
    p, catalog = run.params.clustering, run.catalog
    for path in (catalog.matrix("train"), catalog.transformer, catalog.clean("train")):
        if not path.exists():
            raise TweetopsError(f"{path} not found; run the feature_engineering stage first.")
    X = sparse.load_npz(catalog.matrix("train"))
    train = pd.read_parquet(catalog.clean("train"), columns=["id", "label", "labeled"])
    names = pickle.loads(catalog.transformer.read_bytes()).get_feature_names_out()

    with timed(log, f"clustered {X.shape[0]:,} tweets into {p.n_clusters} clusters"):
        clusters = cluster(X, p.n_clusters, p.svd_components, p.seed, p.fit_sample_rows)
    labeled = train["labeled"].to_numpy(bool)
    pseudo, confidence = pseudo_label(clusters, train["label"], labeled)
    unlabeled = ~labeled
    pseudo_frame = pd.DataFrame({
        "id": train["id"], "cluster": clusters,
        "pseudo_label": np.where(unlabeled, pseudo, None), "confidence": np.where(unlabeled, confidence, np.nan),
    })
    pseudo_frame["confident"] = unlabeled & (pseudo_frame["confidence"] >= p.min_confidence)

    gold = train["label"].notna().to_numpy()
    hidden = unlabeled & gold
    confident = pseudo_frame["confident"].to_numpy()
    summary = {
        "run_id": run.run_id, "rows": int(len(train)), "n_clusters": int(len(np.unique(clusters))),
        "svd_components": p.svd_components, "min_confidence": p.min_confidence,
        "purity": purity(clusters[gold], train["label"][gold].to_numpy()),
        "ari": float(adjusted_rand_score(train["label"][gold], clusters[gold])),
        "unlabeled": int(unlabeled.sum()), "confident": int(confident.sum()),
        "pseudo_label_accuracy": float((pseudo[hidden] == train["label"][hidden]).mean()) if hidden.any() else None,
        "confident_accuracy": (float((pseudo[hidden & confident] == train["label"][hidden & confident]).mean())
                               if (hidden & confident).any() else None),
    }
    sizes = pd.crosstab(clusters, train["label"].where(labeled, "unlabelled")).reindex(
        columns=list(LABELS), fill_value=0)
    sizes.insert(0, "size", pd.Series(clusters).value_counts().sort_index())
    terms = top_terms(X, clusters, names)

    write_parquet(catalog.pseudo_labels, pseudo_frame)
    write_json(catalog.clusters_record, {**summary, "top_terms": terms})
    write_text(catalog.report_dir(run.run_id) / "clusters.md", render_report(summary, sizes, terms))
    log.info("purity %.3f, ARI %.3f, %s unlabelled rows, %s confident pseudo-labels (accuracy %s)",
             summary["purity"], summary["ari"], summary["unlabeled"], summary["confident"],
             summary["confident_accuracy"])
    return summary


def main(argv=None) -> int:
    return stage_main("clustering", stage, argv)


if __name__ == "__main__":
    raise SystemExit(main())
