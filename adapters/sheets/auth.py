"""Service-account auth: an RS256 JWT exchanged for an access token, cached until near expiry.

The key comes from `MIGO_SYNC_SHEETS_CREDENTIALS_JSON` (the key file's JSON itself) or
`MIGO_SYNC_SHEETS_CREDENTIALS_FILE` (its path), or the same names in the keyring (the environment
first: a key it names is used without looking in the keyring). The private
key, every assertion and every access token are registered for redaction before use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from migo_sync.credentials import Credentials
from migo_sync.errors import AuthError, ConfigError
from migo_sync.redact import register_secret

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 3600   # Google refuses assertions valid for longer than an hour
REFRESH_MARGIN = 300  # renew a cached token this many seconds before it expires

_cache_lock = threading.Lock()
_token_cache: dict[tuple[str, str, str], tuple[str, float]] = {}


@dataclass(frozen=True)
class ServiceAccountKey:
    """The parts of a Google service-account JSON key file that signing needs."""

    client_email: str
    private_key: str
    private_key_id: str | None = None
    project_id: str | None = None

    def __repr__(self) -> str:  # never show the key, even in a traceback's locals
        return f"ServiceAccountKey(client_email={self.client_email!r})"

    @classmethod
    def from_json(cls, text: str, source: str) -> ServiceAccountKey:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ConfigError(f"sheets: {source} is not JSON (expected a service-account key file)") from None
        if not isinstance(data, dict):
            raise ConfigError(f"sheets: {source} is not a service-account key (expected a JSON object)")
        private_key = data.get("private_key")
        if isinstance(private_key, str):
            register_key(private_key)
        if data.get("type", "service_account") != "service_account":
            raise ConfigError(f"sheets: {source} holds a '{data.get('type')}' credential; "
                              "a service-account key (\"type\": \"service_account\") is needed")
        missing = [k for k in ("client_email", "private_key") if not isinstance(data.get(k), str) or not data[k]]
        if missing:
            raise ConfigError(f"sheets: {source} lacks {', '.join(missing)} (download a new JSON key "
                              "for the service account)")
        return cls(client_email=data["client_email"], private_key=data["private_key"],
                   private_key_id=data.get("private_key_id"), project_id=data.get("project_id"))


def register_key(private_key: str) -> None:
    """Mask the key whole and line by line (a log may show a fragment of the PEM)."""
    register_secret(private_key)
    for line in private_key.splitlines():
        if len(line) >= 16 and not line.startswith("-----"):
            register_secret(line)


KEY_NAMES = ("credentials_json", "credentials_file")  # where the key is found, in this order


def load_key(credentials: Credentials) -> ServiceAccountKey:
    """Find the service-account key: the environment first (inline JSON, then the key file's path),
    then the keyring (the same two names, in that order)."""
    found = credentials.first(*KEY_NAMES)
    if found is not None and found[0] == "credentials_json":
        return ServiceAccountKey.from_json(found[1], credentials.env_name("credentials_json"))
    path = found[1] if found is not None else None
    if not path:
        places = [credentials.env_name("credentials_json"), credentials.env_name("credentials_file")]
        if credentials.use_keyring:
            places.append("keyring service 'migo-sync' users 'sheets.credentials_json', 'sheets.credentials_file'")
        raise ConfigError("sheets: no service-account key; looked in: " + ", then ".join(places)
                          + " (set one to the key file's JSON or its path)")
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"sheets: cannot read the service-account key file {file}: {exc.strerror}") from None
    return ServiceAccountKey.from_json(text, f"key file {file}")


def signing_key(key: ServiceAccountKey) -> Any:
    """The private key loaded and checked as PyJWT signs with it (its own `prepare_key`, so a key it
    refuses is refused alike), or ConfigError. Importing PyJWT + cryptography costs ~0.1 s the first
    time and loading a 2048-bit key ~0.04 s: `RunPreparation` does it ahead, a rerun that never signs
    not at all."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from jwt.algorithms import RSAAlgorithm

    try:
        loaded = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(key.private_key)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(f"sheets: the service-account private key of {key.client_email} cannot sign "
                          f"({type(exc).__name__}); download a new JSON key") from None
    if not isinstance(loaded, RSAPrivateKey):
        raise ConfigError(f"sheets: the service-account private key of {key.client_email} cannot sign "
                          "(it is a public key); download a new JSON key")
    return loaded


def import_signer() -> None:
    """Import what signing needs (PyJWT, cryptography's RSA): the part of the sign-in's preparation
    that needs no key."""
    import jwt.algorithms  # noqa: F401
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: F401


def make_assertion(key: ServiceAccountKey, signer: Any, token_url: str, scopes: tuple[str, ...], now: float) -> str:
    """The signed JWT of the jwt-bearer grant (iss, scope, aud, iat, exp ≤ iat + 1 h), signed with
    `signer` (`signing_key(key)`)."""
    issued = int(now)
    claims = {"iss": key.client_email, "scope": " ".join(scopes), "aud": token_url,
              "iat": issued, "exp": issued + JWT_LIFETIME}
    headers = {"kid": key.private_key_id} if key.private_key_id else None
    import jwt  # imported by signing_key already

    try:
        assertion: str = jwt.encode(claims, signer, algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(f"sheets: the service-account private key of {key.client_email} cannot sign "
                          f"({type(exc).__name__}); download a new JSON key") from None
    register_secret(assertion)
    return assertion


class ServiceAccountAuth(httpx.Auth):
    """httpx auth: adds `Authorization: Bearer`, fetching or renewing the token when needed.

    The token request goes through the same client (so it is rate limited, counted and retried
    like any other). A 401 on a cached token (revoked, or the emulator was reset) renews it once.
    """

    requires_response_body = True

    def __init__(self, key: ServiceAccountKey, token_url: str, scopes: tuple[str, ...] = (SCOPE,), *,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.token_url = token_url
        self.scopes = scopes
        self.clock = clock
        self._cache_key = (key.client_email, token_url, " ".join(scopes))
        self._signer: Any = None  # the loaded private key: in memory only, loaded once
        self._signer_lock = threading.Lock()

    def prepare(self) -> None:
        """Load the signing key now (imports included), unless a cached token makes it needless for
        now; a key that cannot sign is left for the token request to refuse, where it always was."""
        if self._cached() is not None:
            return
        try:
            self._signing_key()
        except ConfigError:
            return

    def _signing_key(self) -> Any:
        with self._signer_lock:
            if self._signer is None:
                self._signer = signing_key(self.key)
            return self._signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached()
        fresh = token is None
        if token is None:
            token = yield from self._fetch()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and not fresh:
            self._forget(token)
            token = yield from self._fetch()
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _cached(self) -> str | None:
        with _cache_lock:
            found = _token_cache.get(self._cache_key)
        if found is None or found[1] - REFRESH_MARGIN <= self.clock():
            return None
        return found[0]

    def _forget(self, token: str) -> None:
        with _cache_lock:
            if _token_cache.get(self._cache_key, ("",))[0] == token:
                del _token_cache[self._cache_key]

    def sign_in(self, http: httpx.Client) -> str:
        """Fetch a token now through `http` (the connection check): the token, or AuthError."""
        flow = self._fetch()
        request = next(flow)
        try:
            flow.send(http.send(request, auth=None))
        except StopIteration as done:
            return str(done.value)
        raise AssertionError("the token flow sends one request")  # pragma: no cover

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, str]:
        now = self.clock()
        assertion = make_assertion(self.key, self._signing_key(), self.token_url, self.scopes, now)
        response = yield httpx.Request(
            "POST", self.token_url, data={"grant_type": GRANT_TYPE, "assertion": assertion},
            headers={"Accept": "application/json"}, extensions={"idempotent": True},
        )
        token, expires_in = parse_token_response(response, self.key.client_email, self.token_url)
        with _cache_lock:
            _token_cache[self._cache_key] = (token, now + expires_in)
        return token


def parse_token_response(response: httpx.Response, email: str, token_url: str) -> tuple[str, float]:
    """(access_token, expires_in) from the token endpoint, or an AuthError that says why."""
    try:
        body: Any = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        error = body.get("error") or f"HTTP {response.status_code}"
        if isinstance(error, dict):  # some Google front ends answer with the API envelope
            error = error.get("status") or error.get("message") or f"HTTP {response.status_code}"
        detail = body.get("error_description")
        reason = f"{error}: {detail}" if detail else str(error)
        raise AuthError("sheets", f"token request for {email} refused by {token_url} ({reason}); check the "
                        "key in MIGO_SYNC_SHEETS_CREDENTIALS_FILE (or MIGO_SYNC_SHEETS_CREDENTIALS_JSON) and that "
                        "the service account is enabled", status=response.status_code,
                        code=str(error))
    token: str = body["access_token"]
    register_secret(token)
    try:
        expires_in = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    return token, expires_in


def clear_token_cache() -> None:
    """Forget every cached token (tests; a rotated key)."""
    with _cache_lock:
        _token_cache.clear()
