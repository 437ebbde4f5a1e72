"""Opaque, signed, stateless cursors.

A cursor is `base64url(payload) "." base64url(HMAC-SHA256(payload))`. The payload names
the key that signed it (`k`, a hash of the secret, so secrets rotate: the first
configured secret signs, every configured one verifies), its expiry (`e`), what it is
bound to (`b`: route, operation, chat and a hash of the filters) and the paginator's
exact position (`p`). No server-side state: any replica with the same secrets accepts it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .canonical import LIST_QUERY
from .errors import InvalidCursor
from .jsontext import dumps_bytes

__all__ = ["CursorCodec", "Binding", "MAX_CURSOR_LENGTH"]

MAX_CURSOR_LENGTH = LIST_QUERY["cursor"]["maxLength"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Binding:
    route: str
    operation: str
    chat_id: str | None
    filters: tuple[tuple[str, str], ...]
    paging: str = ""

    def digest(self) -> str:
        return _digest(self)


@functools.lru_cache(maxsize=4096)  # a page and the next ask for the same binding's digest
def _digest(binding: Binding) -> str:
    text = json.dumps([binding.route, binding.operation, binding.chat_id,
                       list(binding.filters), binding.paging])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: the URL-safe alphabet only, and only the one spelling `_b64` writes (the
    lenient decoder skips stray characters and ignores a last character's unused bits,
    so a changed cursor could otherwise still verify)."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def key_id(secret: bytes) -> str:
    return hashlib.sha256(b"chat-gateway-cursor-key:" + secret).hexdigest()[:8]


class CursorCodec:
    def __init__(self, secrets: tuple[bytes, ...], ttl_seconds: int,
                 clock: Callable[[], float]) -> None:
        # Each key's HMAC state with the key already absorbed: signing copies it instead
        # of setting the key up (and looking "sha256" up by name) for every cursor.
        self._keys = {key_id(s): hmac.new(s, digestmod=hashlib.sha256) for s in secrets}
        self._signing = key_id(secrets[0])
        self._ttl = ttl_seconds
        self._clock = clock

    def encode(self, binding: Binding, position: dict[str, Any]) -> str:
        payload = dumps_bytes({"k": self._signing, "e": int(self._clock()) + self._ttl,
                               "b": binding.digest(), "p": position})
        return f"{_b64(payload)}.{_b64(self._sign(self._keys[self._signing], payload))}"

    def decode(self, cursor: str, binding: Binding) -> dict[str, Any]:
        if not 1 <= len(cursor) <= MAX_CURSOR_LENGTH:
            raise InvalidCursor("the cursor is not one this gateway issued", reason="malformed")
        try:
            payload_text, signature_text = cursor.split(".")
            payload = _unb64(payload_text)
            signature = _unb64(signature_text)
            data = json.loads(payload)
            kid, expires, bound, position = data["k"], data["e"], data["b"], data["p"]
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor("the cursor is not one this gateway issued",
                                reason="malformed") from None
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise InvalidCursor("the cursor was signed with a key this gateway does not have",
                                reason="unknown_key")
        if not hmac.compare_digest(signature, self._sign(secret, payload)):
            raise InvalidCursor("the cursor's signature does not match", reason="bad_signature")
        if not isinstance(expires, int) or expires < self._clock():
            raise InvalidCursor("the cursor has expired; start again without a cursor",
                                reason="expired")
        if bound != binding.digest():
            raise InvalidCursor("the cursor belongs to another upstream, operation, chat or "
                                "set of filters", reason="mismatch")
        if not isinstance(position, dict):
            raise InvalidCursor("the cursor is not one this gateway issued", reason="malformed")
        return position

    @staticmethod
    def _sign(keyed: hmac.HMAC, payload: bytes) -> bytes:
        mac = keyed.copy()
        mac.update(payload)
        return mac.digest()
