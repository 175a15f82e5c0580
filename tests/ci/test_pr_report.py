"""The pull-request job of ci_validation.yml, run for real on a two-commit repository (base, then a PR
that changes a training parameter): it trains both, compares them and updates its one comment on a
GitHub API served on 127.0.0.1."""
from __future__ import annotations

import subprocess

import pytest

from tests.ci.test_workflows import CI, scratch_clone
from tests.ci.workflow_runner import WorkflowRun, condition, load_workflow
from tests.servers.github import github_api  # noqa: F401  (fixture)
from tweetops.release.compare import MARKER

REPO, PR = "local/tweetops", 12  # the runner's GITHUB_REPOSITORY, and a pull request number
COMMENT, FORK = "Post or update the pull request comment", "Fork pull request, no comment"


def pull_request(base_sha: str, head_repo: str = REPO) -> dict:
    return {"pull_request": {"number": PR, "base": {"sha": base_sha}, "head": {"repo": {"full_name": head_repo}}}}


class PullRequestRun(WorkflowRun):
    """The runner, with the pull_request event payload and the job token in the github context."""

    def __init__(self, *args, event: dict, token: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.event, self.token = event, token

    def _context(self, steps: dict) -> dict:
        context = super()._context(steps)
        context["github"].update(event_name="pull_request", event=self.event, token=self.token)
        return context


def git(root, *args) -> str:
    done = subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", *args], cwd=root,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def two_commits(tmp_path):
    """A scratch clone as a git repository: the base commit, then a PR commit with a weaker C."""
    root = scratch_clone(tmp_path / "clone")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    params = root / "params.yaml"
    text = params.read_text()
    assert "  C: 2.0\n" in text
    params.write_text(text.replace("  C: 2.0\n", "  C: 0.05\n"))
    git(root, "commit", "-qam", "pull request: C 0.05")
    return root, base


def test_the_pr_job_compares_with_the_base_and_updates_its_one_comment(two_commits, github_api):  # noqa: F811
    root, base = two_commits
    # A previous push's comment and a reviewer's: the job must edit the first and leave the second alone.
    github_api.comments += [{"id": 1, "repo": REPO, "issue": PR, "body": f"{MARKER}\nold report"},
                            {"id": 2, "repo": REPO, "issue": PR, "body": "looks good"}]
    run = PullRequestRun(CI, root, sha=git(root, "rev-parse", "HEAD"), event=pull_request(base),
                         token=github_api.token, env={"GITHUB_API_URL": github_api.url})
    run.run("pr-report")
    assert not run.failed(), run.report()
    statuses = {r.name: r.status for r in run.results}
    assert statuses[COMMENT] == "success" and statuses[FORK] == "skipped"

    body = next(c["body"] for c in github_api.comments if c["id"] == 1)
    assert [c["body"] for c in github_api.comments] == [body, "looks good"]  # updated in place, no new one
    assert body.startswith(MARKER) and body in run.summary
    assert f"commit `{base[:12]}`" in body  # the base model was trained from the base commit
    macro = next(line for line in body.splitlines() if line.startswith("| macro-F1 |"))
    base_f1, head_f1, change = (float(v) for v in macro.strip("|").split("|")[1:])
    assert head_f1 < base_f1 and change == pytest.approx(head_f1 - base_f1, abs=1e-4)  # C 0.05 underfits
    assert "with the base branch's model as champion: not promoted" in body
    assert "| true \\ predicted | negative | neutral | positive |" in body


def test_a_fork_pr_skips_the_comment_and_keeps_the_summary():
    job = load_workflow(CI)["jobs"]["pr-report"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}  # write only where it posts
    steps = {s["name"]: s for s in job["steps"]}
    for head_repo, posts in ((REPO, True), ("someone/tweetops-fork", False)):
        context = {"github": {"repository": REPO, **{"event": pull_request("0" * 40, head_repo)}}}
        assert condition(steps[COMMENT]["if"], context, "success") is posts
        assert condition(steps[FORK]["if"], context, "success") is not posts
    assert 'GITHUB_STEP_SUMMARY' in steps["Compare the metrics"]["run"]
