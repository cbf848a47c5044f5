"""Logging (structlog): JSON lines or a human console format, secrets redacted on every line.

Design: credentials are never logged; listen keys, wsKeys, signatures and API keys are redacted in
every log line and error. Redaction runs as the last step before rendering, on every value of the
event dict (recursively: nested dicts, lists, reprs of objects) and on exception texts and
tracebacks, for structlog events and for records of the standard ``logging`` module alike (aiohttp,
the Binance SDKs, the venue), which are routed through the same ``ProcessorFormatter``.

What is redacted (:func:`sanitise`):

- every value registered with :func:`register_secret` (the loaded credentials), anywhere;
- PEM private key blocks;
- ``name=value`` / ``name: value`` / ``"name": "value"`` where the name contains ``signature``,
  ``secret``, ``apiKey``/``api_key``, ``listenKey``, ``wsKey``, ``privateKey``, ``password`` or
  ``passphrase`` (query strings, headers such as ``X-MBX-APIKEY``, JSON, dict reprs);
- a token after ``/ws/`` or ``/stream/`` in a URL path (legacy listen-key stream URLs);
- any run of 48 or more ``[A-Za-z0-9_-]`` characters mixing letters and digits: Binance API keys,
  secrets and listen keys are 60-64 such characters; so are hex digests (also redacted: harmless).

In event dicts, a value under a sensitive key name is replaced whole (unless it is a bool, a
number or None, which cannot hold a credential).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

# structlog (with its dev renderers, rich and pygments) loads only where logging is set up or
# a logger is made: ``config check`` and ``status`` need the redaction alone, and start faster.
if TYPE_CHECKING:
    import structlog
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_event",
    "register_secret",
    "sanitise",
]

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 8  # shorter values would replace ordinary words everywhere
_MAX_DEPTH = 16

_WORDS = (
    r"(?:secret|signature|api[_-]?key|listen[_-]?key|ws[_-]?key|private[_-]?key|"
    r"password|passphrase)"
)
_SENSITIVE_WORD = re.compile(_WORDS, re.IGNORECASE)
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# A name token, then a separator with optional (possibly JSON-escaped) quotes, then the value.
# The name is matched possessively (``++``) and tested for a sensitive word in the callback: a
# regex that looked for the word inside the token would backtrack quadratically on long tokens.
# A value stops at ``?``: else ``https:`` would take ``//host/path?signature=...`` as its own
# (harmless) value, and the signature right after the ``?`` would never be looked at.
_NAMED_VALUE = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z0-9_.-]++)"
    r"(?P<sep>(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)"
    r"(?P<value>[^\s\"'&,;})\[\]\\<>?]+)"
)
_URL_PATH_KEY = re.compile(
    r"(?P<prefix>/(?:ws|stream)/)(?P<key>[A-Za-z0-9_-]{16,})(?![@A-Za-z0-9_-])"
)
_LONG_TOKEN_LEN = 48
# Linear: it can only start at a token boundary, and each lookahead scans that token once.
_LONG_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])"
    rf"[A-Za-z0-9_-]{{{_LONG_TOKEN_LEN},}}+"
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_secret_re: re.Pattern[str] | None = None


def register_secret(value: str) -> bool:
    """Always replace ``value`` (and its URL-encoded form) in every log line from now on.

    Returns False, registering nothing, for values shorter than 8 characters: no real credential
    is that short, and replacing a short string would mangle ordinary text.
    """
    global _secrets, _secret_re
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
        return False
    with _lock:
        new = _secrets | {value, quote(value, safe="")}
        if new != _secrets:
            _secrets = frozenset(new)
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leaks
            _secret_re = re.compile("|".join(re.escape(s) for s in ordered))
    return True


def sanitise(text: str) -> str:
    """``text`` with every secret pattern replaced by ``[REDACTED]`` (see the module doc)."""
    if not text:
        return text
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    # Cheap substring guards first: most log values are short and match nothing.
    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(REDACTED, text)
    if ("=" in text or ":" in text) and _SENSITIVE_WORD.search(text):
        text = _NAMED_VALUE.sub(_named_value, text)
    if "/ws/" in text or "/stream/" in text:
        text = _URL_PATH_KEY.sub(lambda m: f"{m['prefix']}{REDACTED}", text)
    if len(text) >= _LONG_TOKEN_LEN:
        text = _LONG_TOKEN.sub(REDACTED, text)
    return text


def _named_value(match: re.Match[str]) -> str:
    if _SENSITIVE_WORD.search(match["name"]) is None:
        return match[0]
    return f"{match['name']}{match['sep']}{REDACTED}"


def _is_sensitive_name(name: object) -> bool:
    return isinstance(name, str) and _SENSITIVE_WORD.search(name) is not None


def redact(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value`` with every secret removed (recursive)."""
    if isinstance(value, str):
        return sanitise(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if _depth >= _MAX_DEPTH:
        return "[...]"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = sanitise(str(key))
            if _is_sensitive_name(key) and not (
                item is None or isinstance(item, bool | int | float)
            ):
                out[name] = REDACTED
            else:
                out[name] = redact(item, _depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item, _depth + 1) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return sanitise(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Decimal | Enum):
        return sanitise(str(value.value if isinstance(value, Enum) else value))
    if isinstance(value, BaseException):
        return sanitise(f"{type(value).__name__}: {value}")
    # Any other object: its repr may embed a secret (a config, a client, a request).
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break logging
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return sanitise(text)


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: :func:`redact` over the whole event dict (run after exc formatting)."""
    result: EventDict = redact(event_dict)
    return result


class _RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose error path is redacted too.

    ``logging.Handler.handleError`` prints the record's message and arguments to stderr as they
    are, bypassing every formatter; a bad ``%`` format with a key in its args would leak.
    """

    exitguard_installed = True

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        line = {
            "event": "logging error",
            "level": "error",
            "logger": record.name,
            "error": sanitise(f"{type(error).__name__}: {error}") if error else None,
            "msg": sanitise(str(record.msg)),
        }
        try:
            self.stream.write(json.dumps(line) + "\n")
            self.flush()
        except Exception:  # nothing left to report to
            pass


class _BackgroundHandler(logging.Handler):
    """Renders and writes records on a writer thread, off the event loop's thread.

    Rendering a line (redaction over every value, then JSON) costs 0.1-0.3 ms, and a protection
    command emits several lines while a caller waits for its answer; the writer thread does that
    work while the loop waits on the network. Order is kept (one queue, one writer). A record at
    WARNING or above is not left queued: the caller waits until it (and every line before it)
    is written, so what may leave a position bare is on disk before the process goes on and a
    ``kill -9`` right after cannot swallow it. Info lines still queued at a ``kill -9`` are lost;
    the store's journal, not the log, is the durable record.
    """

    exitguard_installed = True

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target
        self._queue: queue.SimpleQueue[tuple[logging.LogRecord | None, threading.Event | None]]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="exitguard-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        if not self._thread.is_alive() or threading.current_thread() is self._thread:
            # Stopped (at exit), or a line logged while rendering one: write it here.
            self.target.handle(record)
            return
        if record.levelno < logging.WARNING:
            self._queue.put((record, None))
            return
        written = threading.Event()
        self._queue.put((record, written))
        written.wait(5.0)

    def _drain(self) -> None:
        while True:
            record, written = self._queue.get()
            if record is None:
                return
            try:
                self.target.handle(record)
            finally:
                if written is not None:
                    written.set()
            # Let the loop's thread take the interpreter back between lines (it may be
            # waiting for it with a venue answer in hand).
            time.sleep(0)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put((None, None))
            self._thread.join(5.0)
        self.target.flush()
        super().close()


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")


def configure_logging(
    stream: TextIO | None = None,
    level: str | int = "INFO",
    fmt: str = "json",
    *,
    background: bool = False,
) -> None:
    """Send structlog events and stdlib ``logging`` records, redacted, to ``stream`` (default:
    stderr, leaving stdout to command output). Calling it again replaces the handler.

    ``fmt``: ``"json"`` (one JSON object a line, for machines) or ``"console"`` (aligned
    ``time level event key=value`` lines for a person; colours only on a terminal). Redaction
    runs before either renderer, so both formats carry the same redacted values.
    ``background``: render and write on a writer thread (:class:`_BackgroundHandler`; the
    long-running ``exitguard run``), warnings and errors still written before the call returns.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"configure_logging: fmt must be json or console, got {fmt!r}")
    if isinstance(level, str):
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(
                f"configure_logging: level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                f"got {level!r}"
            )
        level = numeric
    import structlog

    target = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Exceptions become text here, before redaction sees the event.
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger taken before configure_logging must still follow it.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_event,
            _renderer(fmt, target),
        ],
    )
    writer = _RedactingHandler(target)
    writer.setFormatter(formatter)
    handler: logging.Handler = _BackgroundHandler(writer) if background else writer
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "exitguard_installed", False):
            root.removeHandler(old)
            if isinstance(old, _BackgroundHandler):
                old.close()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn texts go through the same redaction


def _renderer(fmt: str, stream: TextIO) -> Processor:
    import structlog

    if fmt == "json":
        return structlog.processors.JSONRenderer()
    isatty = getattr(stream, "isatty", None)
    colors = bool(isatty()) if callable(isatty) else False
    # The exception text is already rendered (and redacted) by format_exc_info: print it as is.
    return structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``initial`` values."""
    import structlog

    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
