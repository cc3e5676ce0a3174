"""Access tokens of the web platform, kept in the store as SHA-256 digests (the token itself is shown once)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pruningbench.errors import UserError
from pruningbench.store.database import Database
from pruningbench.store.schema import TokenRow

__all__ = ["SCOPES", "Token", "TokenStore"]

SCOPES = ("submit", "admin")  # submit: queue and submit runs; admin: also cancel, retry, delete


@dataclass(frozen=True)
class Token:
    """Who holds a valid token, and what it allows."""

    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        """``admin`` allows everything, ``submit`` only submitting."""
        return self.scope == "admin" or self.scope == scope


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """Create, check and revoke tokens."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, name: str, scope: str) -> str:
        """A new token called ``name``; the secret is returned once and only its digest is stored."""
        if scope not in SCOPES:
            raise UserError(f"token scope must be one of {', '.join(SCOPES)} (got {scope!r})")
        if not name or len(name) > 100:
            raise UserError("token name must be 1 to 100 characters")
        secret = f"pb_{secrets.token_urlsafe(32)}"
        try:
            with self.database.writing() as session:
                session.add(
                    TokenRow(name=name, scope=scope, digest=_digest(secret), created_at=datetime.now(timezone.utc))
                )
        except IntegrityError:
            raise UserError(f"a token called {name!r} exists already") from None
        return secret

    def check(self, secret: str) -> Token | None:
        """The token of ``secret`` if it exists and is not revoked."""
        with self.database.reading() as session:
            row = session.scalar(
                select(TokenRow).where(TokenRow.digest == _digest(secret), TokenRow.revoked_at.is_(None))
            )
            return None if row is None else Token(row.name, row.scope)

    def check_name(self, name: str) -> Token | None:
        """The active token called ``name`` (a browser session stays valid only while its token does)."""
        with self.database.reading() as session:
            row = session.scalar(select(TokenRow).where(TokenRow.name == name, TokenRow.revoked_at.is_(None)))
            return None if row is None else Token(row.name, row.scope)

    def revoke(self, name: str) -> None:
        """Revoke the token called ``name``."""
        with self.database.writing() as session:
            row = session.scalar(select(TokenRow).where(TokenRow.name == name, TokenRow.revoked_at.is_(None)))
            if row is None:
                raise UserError(f"no active token called {name!r}")
            row.revoked_at = datetime.now(timezone.utc)

    def any_admin(self) -> bool:
        """Whether an active admin token exists (the server creates one on its first start otherwise)."""
        with self.database.reading() as session:
            return (
                session.scalar(
                    select(TokenRow.id).where(TokenRow.scope == "admin", TokenRow.revoked_at.is_(None)).limit(1)
                )
                is not None
            )

    def names(self) -> list[tuple[str, str, bool]]:
        """Every token: name, scope, active."""
        with self.database.reading() as session:
            return [
                (r.name, r.scope, r.revoked_at is None) for r in session.scalars(select(TokenRow).order_by(TokenRow.id))
            ]
