"""One pull-request comment per report, updated in place: found by its hidden marker, then PATCHed.

Talks to the GitHub REST API (GITHUB_API_URL, as set on Actions runners) with the job's token, so
each push to a pull request edits the same comment instead of adding one more.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from tweetops.errors import TweetopsError
from tweetops.settings import environment

PAGE = 100


def _call(method: str, url: str, token: str, payload: dict | None = None):
    request = urllib.request.Request(url, method=method, data=None if payload is None else json.dumps(payload).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/vnd.github+json",
                                              "X-GitHub-Api-Version": "2022-11-28",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        hint = " (a pull request from a fork gets a read-only token)" if exc.code in (401, 403, 404) else ""
        raise TweetopsError(f"GitHub answered {exc.code} to {method} {url}{hint}.")
    except (urllib.error.URLError, OSError) as exc:
        raise TweetopsError(f"cannot reach GitHub at {url}: {getattr(exc, 'reason', exc)}.")


def find(api: str, repo: str, number: int, token: str, marker: str) -> int | None:
    """The id of the first comment on the pull request whose body holds `marker`."""
    page = 1
    while True:
        comments = _call("GET", f"{api}/repos/{repo}/issues/{number}/comments?per_page={PAGE}&page={page}", token)
        for comment in comments:
            if marker in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < PAGE:
            return None
        page += 1


def upsert(repo: str, number: int, body: str, marker: str, *, token: str | None = None,
           api: str | None = None) -> dict:
    """Update the marked comment, or create it; returns {"action": "updated"|"created", "id", "url"}."""
    env = environment()
    secret = env.github_token or env.gh_token
    token = token or (secret.get_secret_value() if secret else None)
    if not token:
        raise TweetopsError("no GitHub token: set GITHUB_TOKEN "
                            "(in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`).")
    if marker not in body:
        raise TweetopsError(f"the comment body lacks its marker {marker}, so the next push could not find it.")
    api = (api or env.github_api_url).rstrip("/")
    existing = find(api, repo, number, token, marker)
    if existing is None:
        made = _call("POST", f"{api}/repos/{repo}/issues/{number}/comments", token, {"body": body})
        return {"action": "created", "id": made["id"], "url": made.get("html_url")}
    made = _call("PATCH", f"{api}/repos/{repo}/issues/comments/{existing}", token, {"body": body})
    return {"action": "updated", "id": made["id"], "url": made.get("html_url")}
