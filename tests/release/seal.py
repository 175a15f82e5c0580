"""Re-seal a bundle after editing its manifest, as only someone who means to could (and tweetops never does)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tweetops.model.bundle import CHECKSUM_FILE, MANIFEST_FILE


def reseal(bundle: Path, manifest: dict) -> None:
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (bundle / MANIFEST_FILE).write_bytes(data)
    (bundle / CHECKSUM_FILE).write_text(f"{hashlib.sha256(data).hexdigest()}  {MANIFEST_FILE}\n")
