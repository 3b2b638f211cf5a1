"""librdkafka's log lines, folded: a broker that cannot be reached makes librdkafka repeat the same
line many times a second (``Connect to ipv4#127.0.0.1:9092 failed: Connection refused``), which buries the
one clear error the stream raises after ``--connect-timeout``.

:class:`RepeatFolder` lets the first of a run of identical lines through and counts the rest; the count
comes out as one line (the count and the line, without librdkafka's prefix) when a different line arrives,
when the stream flushes it (before its own error, at the end of a run), and once a minute while the run of
repeats goes on (an outage mid-night still shows it is ongoing). Lines are "identical" up to what librdkafka
varies between them: the milliseconds in ``(after 0ms in state CONNECT)``, its own "N identical error(s)
suppressed" note and the client's ``#consumer-1``/``#producer-2`` number.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from ..messages import plural

#: the parts of a librdkafka line that change between repeats of the same event
_VARYING = re.compile(r"\d+ms|, \d+ identical error\(s\) suppressed|#(consumer|producer)-\d+")
#: librdkafka's "FAIL [btsbot-fast-host#consumer-1] [thrd:127.0.0.1:9/bootstrap]: " before what happened
_PREFIX = re.compile(r"^[A-Z_]+ \[[^\]]*\] \[[^\]]*\]: ")
#: a run of repeats that lasts is reported this often (seconds)
REPORT_EVERY = 60.0


def _shape(text: str) -> str:
    return _VARYING.sub("", text)


class RepeatFolder(logging.Filter):
    """A filter for one logger (librdkafka's): repeats of the last line are counted, not passed on."""

    def __init__(self, logger: logging.Logger, report_every: float = REPORT_EVERY):
        super().__init__()
        self.logger = logger
        self.report_every = report_every
        self._lock = threading.Lock()
        self._shape: str | None = None
        self._last: logging.LogRecord | None = None  # the last repeat counted
        self._repeats = 0
        self._since = 0.0  # when the counted repeats began

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "folded_count", False):
            return True
        shape = _shape(record.getMessage())
        now = time.monotonic()
        with self._lock:
            repeat = shape == self._shape
            if repeat:
                self._last = record
                self._repeats += 1
                summary = self._take(now) if now - self._since >= self.report_every else None
            else:
                summary = self._take(now)
                self._shape, self._since = shape, now
        if summary is not None:  # before this line: the count belongs to the line above it
            self.logger.handle(summary)
        return not repeat

    def _take(self, now: float) -> logging.LogRecord | None:
        """The repeats counted so far as one log record (None when there were none); the count restarts."""
        last, n = self._last, self._repeats
        self._last, self._repeats, self._since = None, 0, now
        if last is None or n == 0:
            return None
        # the line itself, less librdkafka's "FAIL [client] [thrd:...]: " prefix: other output (the stats
        # line) may come in between; no duration: librdkafka's lines reach Python in bursts, when polled
        text = f"({plural(n, 'more time')}: {_PREFIX.sub('', last.getMessage(), count=1)})"
        return logging.makeLogRecord({"name": last.name, "levelno": last.levelno, "levelname": last.levelname,
                                      "msg": text, "args": None, "folded_count": True})

    def flush(self) -> None:
        """Report the repeats counted so far (the stream calls this before its own error and at the end)."""
        with self._lock:
            summary = self._take(time.monotonic())
        if summary is not None:
            self.logger.handle(summary)


__all__ = ["REPORT_EVERY", "RepeatFolder"]
