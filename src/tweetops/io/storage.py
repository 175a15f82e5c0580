"""Read and write whole objects by URI: a local path, file://, https:// (read only) or s3://.

S3 goes through boto3, so any S3-compatible store works when an endpoint URL is given
(params `data.s3_endpoint_url` or AWS_ENDPOINT_URL_S3). Every failure a user can cause
becomes one TweetopsError sentence that names the URI.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from tweetops.errors import NO_ROOM, TweetopsError
from tweetops.io.files import atomic_path, scratch_folder
from tweetops.settings import environment

HEAD_CODES = {"404": "NoSuchKey or NoSuchBucket", "403": "AccessDenied", "400": "BadRequest"}


def scheme_of(uri: str) -> str:
    scheme = urlparse(str(uri)).scheme.lower()
    return scheme if scheme in ("s3", "https", "http", "file") else "local"


def local_path(uri: str, root: Path | None = None) -> Path:
    """The filesystem path of a local or file:// URI; relative paths are taken from `root`."""
    if scheme_of(uri) == "file":
        return Path(unquote(urlparse(uri).path))
    path = Path(uri)
    return path if path.is_absolute() or root is None else root / path


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise TweetopsError(f"{uri} is not a full S3 object URI; write it as s3://bucket/key.")
    return bucket, key


def s3_client(endpoint_url: str | None = None, timeout: float = 30.0):
    import boto3
    from botocore.config import Config

    env = environment()
    endpoint_url = endpoint_url or env.s3_endpoint_url
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        # Path-style addressing works with every S3-compatible server; AWS accepts it too.
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    # A fresh session reads the credentials from the environment now, not when first used.
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config, region_name=env.region)


def _s3_error(uri: str, exc: Exception) -> TweetopsError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return TweetopsError(f"cannot read {uri}: no AWS credentials; "
                             "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role.")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "error")
        code = HEAD_CODES.get(code, code)  # a HEAD (download_file's first request) answers a bare status
        return TweetopsError(f"S3 refused {uri} ({code}); check the bucket, key and credentials.")
    return TweetopsError(f"cannot reach S3 for {uri} ({type(exc).__name__}); check the endpoint URL and network.")


def read_bytes(uri: str, *, root: Path | None = None, endpoint_url: str | None = None,
               timeout: float = 30.0) -> bytes:
    """The whole content of `uri`, or a TweetopsError that says why it could not be read."""
    scheme = scheme_of(uri)
    if scheme in ("local", "file"):
        path = local_path(uri, root)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise TweetopsError(f"data source {path} does not exist; check the path or pass --source.")
        except IsADirectoryError:
            raise TweetopsError(f"data source {path} is a folder; point it at a file.")
        except PermissionError:
            raise TweetopsError(f"data source {path} is not readable (permission denied).")
        except OSError as exc:  # a symlink loop, a name too long, a file used as a folder...
            raise TweetopsError(f"data source {path} cannot be read ({exc.strerror or type(exc).__name__}); "
                                "check the path or pass --source.")
    if scheme in ("https", "http"):
        return _http_get(uri, timeout).content
    bucket, key = split_s3(uri)
    try:
        body = s3_client(endpoint_url, timeout).get_object(Bucket=bucket, Key=key)["Body"]
        return body.read()
    except Exception as exc:  # botocore raises many types; each becomes one sentence
        raise _s3_error(uri, exc) from exc


def write_bytes(uri: str, data: bytes, *, root: Path | None = None, endpoint_url: str | None = None,
                timeout: float = 30.0) -> None:
    """Write `data` to a local path atomically, or put it as one S3 object."""
    scheme = scheme_of(uri)
    if scheme in ("local", "file"):
        with atomic_path(local_path(uri, root)) as tmp:
            tmp.write_bytes(data)
        return
    if scheme in ("https", "http"):
        raise TweetopsError(f"cannot write to {uri}: https sources are read-only; write to a path or s3://.")
    bucket, key = split_s3(uri)
    try:
        s3_client(endpoint_url, timeout).put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as exc:
        raise _s3_error(uri, exc) from exc


def _http_get(uri: str, timeout: float, stream: bool = False):
    """The 200 response to GET `uri`, or a TweetopsError that says why there is none."""
    import requests

    try:
        response = requests.get(uri, timeout=timeout, stream=stream)
    except requests.RequestException as exc:
        raise TweetopsError(f"cannot download {uri} ({type(exc).__name__}); check the URL and network.")
    if response.status_code != 200:
        response.close()
        raise TweetopsError(f"cannot download {uri}: the server answered HTTP {response.status_code}.")
    return response


@contextlib.contextmanager
def local_input(uri: str, role: str, *, root: Path | None = None, endpoint_url: str | None = None,
                timeout: float = 30.0):
    """A local file of `uri`'s content, to read as a stream while the block runs: the file itself, or a
    download into a scratch folder (written as it arrives, never held in memory; removed after the block).
    `role` names it in the sentence when it is not there or not readable."""
    scheme = scheme_of(uri)
    if scheme in ("local", "file"):
        path = local_path(uri, root)
        if not path.is_file():
            raise TweetopsError(f"{role} {path} does not exist or is not a file; check --input.")
        try:
            open(path, "rb").close()
        except OSError as exc:  # a file this user may not read
            raise TweetopsError(f"{role} {path} is not readable ({os.strerror(exc.errno).lower()}); check --input "
                                "and who may read it.") from None
        yield path
        return
    with scratch_folder("tweetops-download-") as scratch:
        path = scratch / "input"
        try:
            _download(uri, path, endpoint_url, timeout)
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            raise TweetopsError(f"no room to download {uri} into {scratch.parent} ({os.strerror(exc.errno).lower()});"
                                " free space there or set TMPDIR to a larger disk.") from None
        yield path


def _download(uri: str, path: Path, endpoint_url: str | None, timeout: float) -> None:
    if scheme_of(uri) == "s3":
        download_file(uri, path, endpoint_url=endpoint_url, timeout=timeout)
        return
    import requests

    with _http_get(uri, timeout, stream=True) as response, open(path, "wb") as handle:
        try:
            for block in response.iter_content(1 << 20):
                handle.write(block)
        except requests.RequestException as exc:
            raise TweetopsError(f"cannot download {uri} ({type(exc).__name__}); check the URL and network.")


def download_file(uri: str, path: Path, *, endpoint_url: str | None = None, timeout: float = 30.0) -> None:
    """Stream an S3 object to a local file (ranged, parallel gets for big objects; never all in memory)."""
    bucket, key = split_s3(uri)
    try:
        s3_client(endpoint_url, timeout).download_file(bucket, key, str(path))
    except OSError as exc:
        if exc.errno in NO_ROOM:  # the local disk, not S3: the caller says so
            raise
        raise _s3_error(uri, exc) from exc
    except Exception as exc:
        raise _s3_error(uri, exc) from exc


def upload_file(path: Path, uri: str, *, endpoint_url: str | None = None, timeout: float = 30.0) -> None:
    """Upload a local file as one S3 object (multipart when big); readers see the old object or the whole new one."""
    bucket, key = split_s3(uri)
    try:
        s3_client(endpoint_url, timeout).upload_file(str(path), bucket, key)
    except Exception as exc:
        raise _s3_error(uri, exc) from exc
