"""Reading ``../shared``: a file missing there fails the test under CI, skips it elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import CAPTURES, SHARED


def shared_path(*parts: str) -> Path:
    """A file under ../shared; fails under CI when missing, skips elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI needs ../shared beside the clone")
        pytest.skip(f"{path} is not available on this machine")
    return path


def require_shared(path: Path) -> Path:
    """Skip (with the reason shown) when a shared file is missing; fail under CI."""
    if not path.exists():
        message = f"shared reference file missing: {path}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_shared_json(name: str) -> Any:
    """A JSON file of the Kapacitor captures, as parsed (its shape is the file's)."""
    return json.loads(require_shared(CAPTURES / name).read_text(encoding="utf-8"))


def captured_alerts() -> list[dict[str, Any]]:
    """The bodies of the alert POSTs a real Kapacitor sent (CRITICAL, then OK)."""
    posts = json.loads(shared_path("kapacitor-captures", "deadman-alert-posts.json").read_text())
    return [post["body"] for post in posts]


def captured_request_bytes(request: dict[str, Any]) -> bytes:
    """The body a captured request sent: raw text (the malformed-JSON exchange),
    nothing (the empty-body exchange), or its JSON."""
    if "raw_body" in request:
        return str(request["raw_body"]).encode()
    return b"" if request.get("body") is None else json.dumps(request["body"]).encode()
