"""A GitHub REST API for issue comments (list with pages, create, update) on 127.0.0.1.

Speaks the same routes, JSON and token check as api.github.com for what tweetops.pr_comment uses,
so a pull-request comment can be posted and updated for real over HTTP in tests.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from tests.servers.http import answer_json

LIST = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments$")
ONE = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")


@dataclass
class GitHubApi:
    url: str
    token: str
    comments: list = field(default_factory=list)  # {"id", "repo", "issue", "body"}
    requests: list = field(default_factory=list)  # (method, path)

    def on(self, repo: str, number: int) -> list[dict]:
        return [c for c in self.comments if c["repo"] == repo and c["issue"] == number]


def _handler(api: GitHubApi, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, payload) -> None:
            answer_json(self, status, payload)

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            api.requests.append((method, url.path))
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._answer(401, {"message": "Bad credentials"})
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            many, one = LIST.match(url.path), ONE.match(url.path)
            with lock:
                if many and method == "GET":
                    query = parse_qs(url.query)
                    size, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
                    found = api.on(many["repo"], int(many["number"]))
                    return self._answer(200, found[(page - 1) * size:page * size])
                if many and method == "POST":
                    comment = {"id": 1000 + len(api.comments), "repo": many["repo"], "issue": int(many["number"]),
                               "body": body["body"]}
                    api.comments.append(comment)
                    return self._answer(201, {**comment, "html_url": f"{api.url}/c/{comment['id']}"})
                if one and method == "PATCH":
                    for comment in api.comments:
                        if comment["id"] == int(one["id"]) and comment["repo"] == one["repo"]:
                            comment["body"] = body["body"]
                            return self._answer(200, {**comment, "html_url": f"{api.url}/c/{comment['id']}"})
            return self._answer(404, {"message": "Not Found"})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_PATCH(self):
            self._route("PATCH")

    return Handler


@pytest.fixture
def github_api():
    api = GitHubApi(url="", token="ghs_test_token")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api, threading.Lock()))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
