"""Passwords (argon2) and signing in, with repeated failures throttled through the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import EngineError
from engine.models import AuditEvent, Person, SignInAttempt

if TYPE_CHECKING:
    from engine.service import Engine

MAX_FAILURES = 5
# From one network address, across any usernames (password spraying): generous, because an
# office's staff may all sign in from behind one address.
MAX_ADDRESS_FAILURES = 30
LOCKOUT = timedelta(minutes=15)
SIGNED_IN, SIGN_IN_FAILED = "signed_in", "sign_in_failed"

_hasher = PasswordHasher()


class SignInThrottled(EngineError):
    """Too many wrong passwords for this username, or from this address, lately; try later."""


@dataclass(frozen=True)
class SignedIn:
    username: str
    name: str


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True if the password matches the hash; False for a wrong password or a bad hash."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Unknown usernames still cost one verification, so timing does not reveal who exists.
    return _hasher.hash("no such account")


def _throttled(s: Session, engine: Engine, username: str) -> bool:
    recent = s.execute(
        select(AuditEvent.kind, AuditEvent.at)
        .where(AuditEvent.actor == username, AuditEvent.kind.in_((SIGNED_IN, SIGN_IN_FAILED)))
        .order_by(AuditEvent.id.desc()).limit(MAX_FAILURES)
    ).all()
    if len(recent) < MAX_FAILURES or any(kind == SIGNED_IN for kind, _ in recent):
        return False
    return recent[-1].at > engine.now() - LOCKOUT


def _address_throttled(s: Session, engine: Engine, address: str) -> bool:
    if not address:
        return False
    recent = s.execute(select(func.count(SignInAttempt.id)).where(
        SignInAttempt.address == address, SignInAttempt.at > engine.now() - LOCKOUT)).scalar_one()
    return recent >= MAX_ADDRESS_FAILURES


def _record_address_failure(s: Session, engine: Engine, address: str) -> None:
    if not address:
        return
    s.execute(delete(SignInAttempt).where(SignInAttempt.address == address,
                                          SignInAttempt.at <= engine.now() - LOCKOUT))
    s.add(SignInAttempt(address=address, at=engine.now()))


def sign_in(engine: Engine, username: str, password: str, address: str = "") -> SignedIn | None:
    """Check a username and password; record the attempt; None when refused.

    `address` is the network address the attempt came from (the web request's remote
    address); too many refusals from one address throttle it, whatever the usernames.
    """
    username, address = username.strip()[:100], (address or "")[:100]
    where = {"address": address} if address else {}
    with engine.transaction() as s:
        if _address_throttled(s, engine, address):
            audit.append(s, engine.now(), username, SIGN_IN_FAILED,
                         {"reason": "throttled address", **where})
            throttled = True
        elif _throttled(s, engine, username):
            audit.append(s, engine.now(), username, SIGN_IN_FAILED,
                         {"reason": "throttled", **where})
            throttled = True
        else:
            throttled = False
            person = s.execute(
                select(Person).where(Person.username == username)).scalar_one_or_none()
            ok = verify_password(person.password_hash if person else None, password)
            if person is not None and ok and person.active:
                if _hasher.check_needs_rehash(person.password_hash or ""):
                    person.password_hash = hash_password(password)
                audit.append(s, engine.now(), username, SIGNED_IN, where)
                return SignedIn(person.username, person.name)
            reason = "inactive" if person is not None and ok else "wrong username or password"
            audit.append(s, engine.now(), username, SIGN_IN_FAILED, {"reason": reason, **where})
            _record_address_failure(s, engine, address)
    if throttled:
        raise SignInThrottled(
            "There have been too many attempts to sign in. "
            f"Wait {int(LOCKOUT.total_seconds() // 60)} minutes and try again.")
    return None


def set_password(engine: Engine, username: str, password: str) -> None:
    """Give a person a new password."""
    from engine import org

    with engine.transaction() as s:
        org.person(s, username).password_hash = hash_password(password)
        audit.append(s, engine.now(), username, "password_set", {})
