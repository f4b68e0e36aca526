"""A schwab-py token file for tests, as `fund broker login schwab` writes it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.fakes.schwab_api import FakeSchwab


def write_token(path: Path, fake: FakeSchwab, *, age_days: float = 0.0) -> Path:
    created = int(time.time() - age_days * 86400)
    token = {
        "access_token": fake.access_token,
        "refresh_token": fake.refresh_token,
        "token_type": "Bearer",
        "expires_in": 1800,
        "expires_at": int(time.time()) + 1800,
        "scope": "api",
    }
    path.write_text(json.dumps({"creation_timestamp": created, "token": token}))
    path.chmod(0o600)
    return path
