"""The emulator's OAuth side: the jwt-bearer token endpoint and Bearer checks on API calls.

Any RS256 JWT with the expected claims is accepted (the signature is not verified: the emulator
cannot know the service account's public key). What is checked is what Google checks first:
grant type, algorithm, `iss`, `aud` (Google's token URL or this endpoint's own), `scope`, and
`iat`/`exp` (at most one hour apart, not expired, not from the future).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from migo_sync.adapters.sheets.workbook import ApiError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_AUDIENCES = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CREDENTIALS_HELP = ("Expected OAuth 2 access token, login cookie or other valid authentication credential. "
                    "See https://developers.google.com/identity/sign-in/web/devconsole-project.")
TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
             "Check your iat and exp values in the JWT claim.")


class TokenIssuer:
    """Issues access tokens for valid assertions and recognises them on API calls."""

    def __init__(self, lifetime: int = 3599) -> None:
        self.lifetime = lifetime
        self.issued: dict[str, dict[str, Any]] = {}  # token → {email, scopes, expires}
        # Service accounts deleted (or disabled) in the project: Google refuses their assertions.
        self.deleted: set[str] = set()

    def state(self) -> dict[str, Any]:
        now = time.time()
        return {t: v for t, v in self.issued.items() if v["expires"] > now}

    def load(self, state: dict[str, Any]) -> None:
        self.issued = dict(state)

    def grant(self, form: dict[str, str], own_url: str) -> tuple[int, dict[str, Any]]:
        """The token endpoint: (HTTP status, body) as Google's OAuth server answers."""
        if form.get("grant_type") != GRANT_TYPE:
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"Invalid grant_type: {form.get('grant_type', '')}"}
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if header.get("alg") != "RS256":
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        audiences = {*GOOGLE_AUDIENCES, own_url.rstrip("/")}
        if str(claims.get("aud", "")).rstrip("/") not in audiences:
            return 400, {"error": "invalid_grant",
                         "error_description": f"Invalid JWT: Failed audience check. The right audience is "
                                              f"{GOOGLE_AUDIENCES[0]}"}
        if not isinstance(claims.get("iss"), str) or "@" not in claims["iss"]:
            return 400, {"error": "invalid_request", "error_description": "Invalid JWT: missing or bad iss claim."}
        if claims["iss"] in self.deleted:
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
        now = time.time()
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or not isinstance(expires, int | float) \
                or expires - issued > 3600 or expires <= now or issued > now + 300 or expires <= issued:
            return 400, {"error": "invalid_grant", "error_description": TIMEFRAME}
        scopes = str(claims.get("scope", "")).split()
        if not scopes or not all(s.startswith(SCOPE_PREFIX) for s in scopes):
            return 400, {"error": "invalid_scope",
                         "error_description": "Invalid OAuth scope or ID token audience provided."}
        token = "ya29.sandbox-" + secrets.token_hex(24)  # not from the seeded RNG: state stays reproducible
        self.issued[token] = {"email": claims["iss"], "scopes": scopes, "expires": now + self.lifetime}
        return 200, {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}

    def authorize(self, header: str | None, accepted_scopes: frozenset[str]) -> str:
        """The caller's service-account email, or Google's 401/403 envelope."""
        if not header or not header.lower().startswith("bearer "):
            raise ApiError(401, f"Request is missing required authentication credential. {CREDENTIALS_HELP}",
                           "UNAUTHENTICATED")
        grant = self.issued.get(header[7:].strip())
        if grant is None or grant["expires"] <= time.time():
            raise ApiError(401, f"Request had invalid authentication credentials. {CREDENTIALS_HELP}",
                           "UNAUTHENTICATED")
        if not accepted_scopes.intersection(grant["scopes"]):
            raise ApiError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
        email: str = grant["email"]
        return email
