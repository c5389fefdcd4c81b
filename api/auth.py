"""Bearer tokens: HS256 with `DATAHUB_JWT_SECRET`, or keys from `DATAHUB_JWKS_URL` (RS256/ES256).

The key set is fetched with a short timeout and cached (PyJWT's `PyJWKClient`); a token naming a key id the
cache lacks refreshes it at most once per `REFRESH_SECONDS`, one fetch at a time, so forged tokens never
make the API call the key server on every request. Tokens must carry `exp`; `aud` and `iss` are checked
where configured.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt

from api.errors import ApiError
from resources.settings import Settings

REFRESH_SECONDS = 30.0
KEY_SET_LIFESPAN = 300  # seconds a fetched key set is used before it is fetched again
ASYMMETRIC = ["RS256", "ES256"]


class KeySet:
    def __init__(self, url: str, timeout: float) -> None:
        self.client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=True, lifespan=KEY_SET_LIFESPAN,
                                      timeout=timeout)
        self._refresh = threading.Lock()
        self._refreshed = float("-inf")

    def key(self, kid: str | None) -> Any:
        found = self._find(kid, refresh=False)
        if found is None and time.monotonic() - self._refreshed >= REFRESH_SECONDS:
            with self._refresh:  # one fetch at a time; the others find its result
                if time.monotonic() - self._refreshed >= REFRESH_SECONDS:
                    self._refreshed = time.monotonic()
                    found = self._find(kid, refresh=True)
                else:
                    found = self._find(kid, refresh=False)
        if found is None:
            raise ApiError(401, "Authorization: the token is not valid")
        return found

    def _find(self, kid: str | None, *, refresh: bool) -> Any:
        try:
            keys = self.client.get_signing_keys(refresh=refresh)
        except jwt.PyJWKClientConnectionError:
            raise ApiError(503, "Authorization: the key set could not be fetched; try again",
                           headers={"Retry-After": "5"}) from None
        except jwt.PyJWKClientError:  # an empty or unreadable key set
            return None
        return next((k.key for k in keys if kid is None or k.key_id == kid), None)


class Authenticator:
    """Verifies bearer tokens as the settings say; `None` from `from_settings` when tokens are off."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        self.audience, self.issuer = settings.jwt_audience, settings.jwt_issuer
        self.keys = KeySet(settings.jwks_url, settings.jwks_timeout) if settings.jwks_url else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator | None:
        return cls(settings) if settings.jwt_secret or settings.jwks_url else None

    def claims(self, authorization: str) -> dict[str, Any]:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Authorization: a bearer token is required")
        token = token.strip()
        options: jwt.types.Options = {"require": ["exp"], "verify_aud": self.audience is not None}
        try:
            if self.keys is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                key, algorithms = self.keys.key(kid if isinstance(kid, str) else None), ASYMMETRIC
            else:
                key, algorithms = self.secret, ["HS256"]
            return jwt.decode(token, key, algorithms=algorithms, options=options, audience=self.audience,
                              issuer=self.issuer, leeway=5)
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "Authorization: the token has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise ApiError(401, f"Authorization: the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise ApiError(401, "Authorization: the token is not valid") from None
