"""librdkafka settings for the stream: ``--kafka-config FILE`` + ``-X key=value``, secrets kept out of
command lines and logs.

Credentials (SASL passwords, SSL key passwords, OAuth client secrets, PEM keys) belong in the properties
file, never in ``-X``: a command line is visible to every user of the machine (``ps``) and lands in shell
history. Every message this package writes is passed through a :class:`Redactor` built from the secret
values, so a library message that echoes one shows ``***`` instead.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

#: property names whose values are secrets (librdkafka's sensitive properties and their kin)
_SECRET_KEY = re.compile(r"(password|passphrase|secret|key\.pem$|^sasl\.oauthbearer\.config$|jaas)", re.IGNORECASE)
#: properties the stream sets itself: at-least-once depends on them
_OWNED = {"enable.auto.commit": "false", "enable.auto.offset.store": "false"}


class KafkaConfigError(ValueError):
    """An unusable Kafka setting (the message never contains a secret value)."""


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def parse_properties(text: str, origin: str) -> dict[str, str]:
    """Java-style ``key=value`` lines (``#``/``!`` comments, blank lines), as librdkafka tools read them."""
    props: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise KafkaConfigError(f"{origin}:{n}: expected key=value")  # never echo the line: it may hold a secret
        props[key.strip()] = value.strip()
    return props


def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KafkaConfigError(f"cannot read Kafka config {path}: {exc.strerror or exc}") from None
    return parse_properties(text, str(path))


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``-X key=value`` items; secrets are refused here (they belong in ``--kafka-config FILE``)."""
    props: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise KafkaConfigError(f"-X expects key=value, got {key or item!r}" if not sep else "-X expects key=value")
        if is_secret_key(key):
            raise KafkaConfigError(f"-X {key}=...: secrets are not taken on the command line; "
                                   "put them in a --kafka-config properties file")
        props[key] = value.strip()
    return props


def merged(file_props: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """File settings, then ``-X`` overrides; the at-least-once settings are the stream's own."""
    props = {**file_props, **overrides}
    for key, value in _OWNED.items():
        if key in props and props[key].lower() != value:
            raise KafkaConfigError(f"{key} must stay {value}: the stream stores and commits offsets itself, "
                                   "after the outputs are durable")
        props.pop(key, None)
    return props


class Redactor:
    """Replaces every secret value of a Kafka config with ``***`` in text."""

    def __init__(self, props: Mapping[str, str]):
        values = {v for k, v in props.items() if is_secret_key(k) and v}
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts records' final messages (librdkafka's logs pass through it)."""

    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        return True
