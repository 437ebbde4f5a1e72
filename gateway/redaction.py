"""Redact secrets from text the gateway answers or logs, in the forms they leak in.

An upstream that echoes a credential rarely echoes it byte for byte: JSON escapes `/` as
`\\/` or any character as `\\u002f`, a URL percent-encodes it (`%2F` or `%2f`), a form
writes a space as `+`, HTML writes `&#47;`. A `Redactor` is compiled once per config from
the configured secrets into one expression that reads each character of each secret in
any of those forms, mixed, plus the whole secret in base64; and it always removes the
value of an `Authorization` header and of a `Bearer`/`Basic` credential, whoever's it is.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable

__all__ = ["Redactor", "REDACTED"]

REDACTED = "[redacted]"
_VALUE = r"[^\s\"'`<>,;]+"  # a credential's characters; `<key>` in prose is not one
_CREDENTIAL = (r"(?P<keep>(?i:authorization)[\"']?\s*[:=]\s*[\"']?"
               r"(?:(?:Bearer|Basic|SoTicket|Token)\s+)?+)" + _VALUE
               + r"|(?<=[Bb]earer )" + _VALUE + r"|(?<=Basic )[A-Za-z0-9+/]{6,}={0,2}")


def _hex(value: int, width: int) -> str:
    """`value` in hex, either case: '2f' -> '2[fF]'."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c
                   for c in f"{value:0{width}x}")


def _char(c: str) -> str:
    forms = [re.escape(c)]
    forms.append("".join("%" + _hex(b, 2) for b in c.encode()))        # URL
    if ord(c) < 0x10000:
        forms.append(r"\\u" + _hex(ord(c), 4))                           # JSON \u002f
    forms += [f"&#0*{ord(c)};", f"&#[xX]0*{_hex(ord(c), 1)};"]         # HTML numeric
    if c == "/":
        forms.append(r"\\/")                                             # JSON \/
    if c == " ":
        forms.append(r"\+")                                              # form
    if html.escape(c) != c:
        forms.append(re.escape(html.escape(c)))                          # &amp; &quot;
    return "(?:" + "|".join(forms) + ")"


def _pattern(secret: str) -> str:
    raw = secret.encode()
    whole = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    whole |= {w.rstrip("=") for w in whole}
    spelled = "".join(_char(c) for c in secret)
    return "|".join([spelled, *(re.escape(w) for w in sorted(whole, key=len, reverse=True))])


class Redactor:
    """`redactor(text)` is `text` with every configured secret, in any common encoding,
    and every credential after `Authorization`, `Bearer` or `Basic`, replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(_pattern, ordered), _CREDENTIAL]))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(lambda m: (m.group("keep") or "") + REDACTED, text)
