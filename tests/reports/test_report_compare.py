"""`tweetops report compare` and `tweetops report comment`: the pull-request metrics report."""
import copy
import json

import pytest

from tests.servers.github import github_api  # noqa: F401  (fixture)
from tweetops.cli import main
from tweetops.errors import TweetopsError
from tweetops.io.files import write_json
from tweetops.release import gate
from tweetops.release.compare import MARKER, compare, load_run
from tweetops.release.pr_comment import upsert


@pytest.fixture(scope="module")
def head(trained_bundle) -> dict:
    return load_run(trained_bundle)


def shifted(run: dict, by: float) -> dict:
    """The run with a base-branch macro-F1 `by` lower and one more neutral tweet called positive."""
    base = copy.deepcopy(run)
    base["run_id"] = "base-run"
    base["metrics"]["macro_f1"] -= by
    base["metrics"]["confusion_matrix"][1][2] += 1
    return base


def test_deltas_confusion_and_gate_against_a_worse_base(head, trained_bundle, tmp_path):
    write_json(tmp_path / "metrics.json", shifted(head, 0.01))
    text = compare(tmp_path / "metrics.json", trained_bundle)
    m = head["metrics"]
    assert text.startswith(MARKER)
    assert f"| macro-F1 | {m['macro_f1'] - 0.01:.4f} | {m['macro_f1']:.4f} | +0.0100 |" in text
    assert f"| accuracy | {m['accuracy']:.4f} | {m['accuracy']:.4f} | +0.0000 |" in text
    neutral = m["confusion_matrix"][1]
    assert f"| neutral | {neutral[0]} (+0) | {neutral[1]} (+0) | {neutral[2]} (-1) |" in text
    assert gate.against_baselines(head)["sentence"] in text  # the gate's own words, not a copy of its rule
    assert "with the base branch's model as champion: promoted: macro-F1" in text


def test_a_better_base_means_the_gate_would_not_promote(head, trained_bundle, tmp_path):
    base = shifted(head, -0.01)
    del base["baselines"]["vader_compound"]  # a base branch that did not compute this baseline yet
    write_json(tmp_path / "manifest.json", base)
    text = compare(tmp_path / "manifest.json", trained_bundle)
    assert "| macro-F1 |" in text and "| -0.0100 |" in text
    vader = head["baselines"]["vader_compound"]["macro_f1"]
    assert f"| VADER compound rule macro-F1 | n/a | {vader:.4f} |  |" in text
    assert "with the base branch's model as champion: not promoted:" in text


def test_the_test_rows_note_says_only_what_the_two_runs_record(head, trained_project, trained_bundle, tmp_path):
    """A metrics.json records no data or split: compared with its own bundle, the report said the two runs used
    different data (found by a README audit)."""
    metrics = trained_project / "reports" / trained_bundle.name / "metrics.json"
    assert "used different data" not in compare(trained_bundle, trained_bundle)
    assert "**Note:**" not in compare(trained_bundle, trained_bundle)
    own = compare(metrics, trained_bundle)
    assert "used different data" not in own
    assert ("**Note:** base recorded no data or split (a metrics.json never does), so whether both were scored on "
            "the same test rows is not known; give bundles or manifests.") in own
    other = copy.deepcopy(head)
    other["params"]["split"]["seed"] += 1
    write_json(tmp_path / "manifest.json", other)
    assert "**Note:** the two runs used different data or split parameters" in compare(tmp_path / "manifest.json",
                                                                                      trained_bundle)


def test_cli_writes_markdown_and_refuses_bad_paths(trained_project, trained_bundle, tmp_path, capsys):
    metrics = trained_project / "reports" / trained_bundle.name / "metrics.json"
    out = tmp_path / "report.md"
    assert main(["report", "compare", str(metrics), str(trained_bundle), "--output", str(out)]) == 0
    assert out.read_text().startswith(MARKER) and "| macro-F1 |" in out.read_text()
    assert main(["report", "compare", str(tmp_path / "missing"), str(trained_bundle)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing'} not found")
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", "compare", str(tmp_path / "bad.json"), str(trained_bundle)]) == 2
    (tmp_path / "other.json").write_text(json.dumps({"rows": 3}))
    assert main(["report", "compare", str(tmp_path / "other.json"), str(trained_bundle)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {tmp_path / 'bad.json'} is not valid JSON; give a manifest.json or a metrics.json.",
                   f"error: {tmp_path / 'other.json'} has no metrics and baselines; "
                   "give a manifest.json or a metrics.json."]


def test_the_comment_is_created_once_then_updated_in_place(github_api):
    repo = "octo/tweetops"
    for i in range(120):  # others' comments fill more than one page, so the marker is on page 2 later
        github_api.comments.append({"id": i + 1, "repo": repo, "issue": 7, "body": f"review {i}"})
    first = upsert(repo, 7, f"{MARKER}\nfirst push", MARKER, token=github_api.token, api=github_api.url)
    second = upsert(repo, 7, f"{MARKER}\nsecond push", MARKER, token=github_api.token, api=github_api.url)
    assert first["action"] == "created" and second == {**first, "action": "updated"}
    ours = [c for c in github_api.on(repo, 7) if MARKER in c["body"]]
    assert [c["body"] for c in ours] == [f"{MARKER}\nsecond push"]
    assert len(github_api.on(repo, 7)) == 121
    assert ("PATCH", f"/repos/{repo}/issues/comments/{first['id']}") in github_api.requests


def test_a_refused_token_is_one_sentence(github_api, monkeypatch, tmp_path, capsys):
    with pytest.raises(TweetopsError, match="answered 401 .* read-only token"):
        upsert("octo/tweetops", 7, f"{MARKER} x", MARKER, token="wrong", api=github_api.url)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    (tmp_path / "body.md").write_text(f"{MARKER}\nreport")
    assert main(["report", "comment", str(tmp_path / "body.md"), "--repo", "octo/tweetops", "--pr", "7"]) == 2
    assert capsys.readouterr().err.startswith("error: no GitHub token")
