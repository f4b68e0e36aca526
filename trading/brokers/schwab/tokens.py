"""Schwab's token file: written by the manual login (`fund broker login schwab`), read by every run.

The file is schwab-py's format, `{"creation_timestamp": <epoch seconds>, "token": {...}}`, written with
owner-only permissions (it holds the refresh token, which trades the account). Access tokens last 30
minutes and are refreshed by the client itself; the refresh token dies about 7 days after the login,
after which only a person can log in again. A run refuses a token that old, with a message that says
how to log in; `fund broker check` warns from 6 days on. One process at a time should use a token
file: two refreshing it at once can lock each other out.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from trading.errors import ConfigurationError

# Schwab's refresh tokens expire 7 days after the login; warn a day before.
REFRESH_TOKEN_DAYS = 7.0
WARN_AFTER_DAYS = 6.0
LOGIN_HINT = "log in again with `fund broker login schwab` (a person, at a terminal)"


class SchwabTokenExpired(ConfigurationError):
    """The refresh token is past its 7 days (or missing): only a person logging in can renew it."""


@dataclass(frozen=True)
class TokenFile:
    path: Path

    @classmethod
    def from_settings(cls, token_path: Path | None, default_dir: Path) -> TokenFile:
        return cls(Path(token_path) if token_path else default_dir / "schwab-token.json")

    def read(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise SchwabTokenExpired(f"no Schwab token at {self.path}: {LOGIN_HINT}")
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"the Schwab token file {self.path} cannot be read ({exc}): {LOGIN_HINT}") from exc
        if not isinstance(stored, dict) or "creation_timestamp" not in stored or "token" not in stored:
            raise ConfigurationError(f"{self.path} is not a schwab-py token file: {LOGIN_HINT}")
        return stored

    def write_raw(self, wrapped: dict[str, Any], *_args: Any, **_kwargs: Any) -> None:
        """Write schwab-py's wrapped token atomically, readable by the owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".schwab-token-", dir=self.path.parent)
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w") as out:
                json.dump(wrapped, out)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def age_days(self, now: datetime) -> float:
        return (now.timestamp() - float(self.read()["creation_timestamp"])) / 86400.0

    def require_fresh(self, now: datetime) -> float:
        """The token's age in days; SchwabTokenExpired when it is missing or its refresh token has died."""
        age = self.age_days(now)
        if age >= REFRESH_TOKEN_DAYS:
            raise SchwabTokenExpired(
                f"the Schwab token at {self.path} is {age:.1f} days old and its refresh token has expired "
                f"(after {REFRESH_TOKEN_DAYS:.0f} days): {LOGIN_HINT}"
            )
        return age
