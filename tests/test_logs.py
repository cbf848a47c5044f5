"""exitguard.logs: JSON lines, and no secret in any of them (structlog events, nested fields,
exceptions with tracebacks, stdlib loggers, warnings, logging's own error path)."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from exitguard.config import load_config
from exitguard.logs import (
    REDACTED,
    configure_logging,
    get_logger,
    redact,
    register_secret,
    sanitise,
)

# Fake credentials shaped like the real ones.
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # 64 alnum
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"  # hex HMAC
LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
VENUE_LISTEN_KEY = (
    "Xk3_9-aZqLmNoPq8rStUvWx-yZ0123456789abcdefGHIJKLmnopQRSTuvwxYZ01"  # token_urlsafe
)
WS_KEY = "usdm_private_" + LISTEN_KEY[:50]
PEM_BODY = "MC4CAQAwBQYDK2VwBCIEIOJLtD7cLzPEdrdv1iVKEyVyHLEoHio69l0qWHJyYHqe"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
ED_SIG = "Zm9vYmFy+/YmF6cXV4cXV1eA=="  # short base64 Ed25519-style signature
SHORT_SECRET = "hunter2!xy"  # registered: no pattern would catch it otherwise
SECRETS = [
    API_KEY,
    API_SECRET,
    SIGNATURE,
    LISTEN_KEY,
    VENUE_LISTEN_KEY,
    PEM_BODY,
    ED_SIG,
    SHORT_SECRET,
]


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(stream, "DEBUG")
    try:
        yield stream
    finally:
        _restore(saved)


def _restore(saved: tuple[list[logging.Handler], int]) -> None:
    """The root logger as it was before a test configured logging."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "exitguard_installed", False):
            root.removeHandler(handler)
            handler.close()
    for handler in saved[0]:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(saved[1])
    logging.captureWarnings(False)
    structlog.reset_defaults()


def assert_clean(text: str) -> None:
    """No secret, nor any 12-character piece of one, anywhere in ``text``."""
    for secret in SECRETS:
        pieces = {secret[i : i + 12] for i in range(0, max(1, len(secret) - 11))}
        if len(secret) < 12:
            pieces = {secret}
        leaked = [p for p in pieces if p in text]
        assert not leaked, f"secret fragment {leaked[0]!r} leaked in:\n{text}"


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@dataclass
class Client:
    api_key: str
    secret: str


def fail_with_secret_url() -> None:
    url = f"https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature={SIGNATURE}"
    raise ConnectionError(f"request to {url} failed (X-MBX-APIKEY: {API_KEY})")


def emit_everything() -> None:
    """Log a secret in every place one can hide: messages, fields, reprs, tracebacks, stdlib."""
    assert register_secret(SHORT_SECRET)
    log = get_logger("exitguard.test", account="main")
    # In messages.
    log.info(f"GET /fapi/v1/openAlgoOrders?timestamp=1&signature={SIGNATURE}")
    log.info(f"user stream wss://fstream.binance.com/ws/{LISTEN_KEY} opened")
    log.info(f"venue stream ws://127.0.0.1:1/private/ws?listenKey={VENUE_LISTEN_KEY}&events=A")
    log.info(f"spot signed ?apiKey={API_KEY}&signature={ED_SIG}")
    log.info(f"password is {SHORT_SECRET}")
    # In fields, nested dicts, lists and object reprs.
    log.info(
        "request",
        api_key=API_KEY,
        headers={"X-MBX-APIKEY": API_KEY, "Content-Type": "application/json"},
        params=[{"signature": SIGNATURE}, {"note": f"listenKey={LISTEN_KEY}"}],
        event_payload={"e": "listenKeyExpired", "listenKey": LISTEN_KEY, "wsKey": WS_KEY},
        client=Client(API_KEY, API_SECRET),
        raw=PEM.encode(),
        pem=PEM,
        deep={"a": {"b": {"c": [f"secret={API_SECRET}"]}}},
        price=Decimal("60000.10"),
    )
    # Exceptions with tracebacks.
    try:
        fail_with_secret_url()
    except ConnectionError:
        log.exception("placement failed")
    try:
        try:
            fail_with_secret_url()
        except ConnectionError as inner:
            raise RuntimeError(f"wrapped: key {API_KEY} listenKey {LISTEN_KEY}") from inner
    except RuntimeError as exc:
        log.error("chained", exc_info=exc, error=exc)
    # Standard logging: aiohttp, the SDKs, the venue.
    sdk = logging.getLogger("binance_common.utils")
    sdk.info("Sending request with headers %s", {"X-MBX-APIKEY": API_KEY})
    sdk.debug("signed payload: %s&signature=%s", "symbol=BTCUSDT", SIGNATURE)
    sdk.warning(
        "listen key %s about to expire",
        LISTEN_KEY,
        extra={"listen_key": LISTEN_KEY, "secret_hint": API_SECRET},
    )
    try:
        fail_with_secret_url()
    except ConnectionError:
        logging.getLogger("aiohttp.client").exception("client error for key %s", API_KEY)
    logging.getLogger("exitguard.venue").error("private key loaded: %s", PEM)
    warnings.warn(f"deprecated endpoint called with signature={SIGNATURE}", stacklevel=1)


def test_no_secret_reaches_any_log_line(output: io.StringIO) -> None:
    emit_everything()
    text = output.getvalue()
    assert_clean(text)
    events = lines(output)  # every line is JSON
    assert len(events) == 14
    assert REDACTED in text
    request = next(e for e in events if e["event"] == "request")
    assert request["api_key"] == REDACTED
    assert request["headers"] == {"X-MBX-APIKEY": REDACTED, "Content-Type": "application/json"}
    assert request["price"] == "60000.10"  # Decimals stay exact text
    assert request["account"] == "main" and request["level"] == "info"
    failed = next(e for e in events if e["event"] == "placement failed")
    assert "Traceback" in str(failed["exception"]) and "fail_with_secret_url" in str(
        failed["exception"]
    )
    assert "signature=[REDACTED]" in str(failed["exception"])
    stdlib = next(e for e in events if e.get("logger") == "aiohttp.client")
    assert "Traceback" in str(stdlib["exception"])
    extra = next(e for e in events if str(e["event"]).startswith("listen key"))
    assert extra["listen_key"] == REDACTED and extra["level"] == "warning"


def test_console_format_is_redacted_the_same(output: io.StringIO) -> None:
    configure_logging(output, "DEBUG", "console")
    emit_everything()
    text = output.getvalue()
    assert_clean(text)
    assert REDACTED in text and "Traceback" in text
    first = text.splitlines()[0]
    assert not first.startswith("{") and "[info" in first and "account=main" in first
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal
    with pytest.raises(ValueError, match="fmt must be json or console, got 'xml'"):
        configure_logging(output, "INFO", "xml")


def test_broken_stdlib_format_does_not_leak(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # logging's default error path prints msg and args raw to stderr; ours redacts. The logger
    # does not propagate so that pytest's own capture handler (which re-raises) is not involved.
    ours = [h for h in logging.getLogger().handlers if getattr(h, "exitguard_installed", False)]
    isolated = logging.getLogger("test_logs.isolated")
    isolated.propagate = False
    isolated.handlers = ours
    try:
        isolated.info("two args %s %s", f"apiKey={API_KEY}")
    finally:
        isolated.handlers = []
        isolated.propagate = True
    captured = capsys.readouterr()
    assert_clean(captured.err + captured.out + output.getvalue())
    assert lines(output)[0]["event"] == "logging error"


def test_level_filtering(output: io.StringIO) -> None:
    configure_logging(output, "WARNING")
    get_logger("x").info("hidden")
    logging.getLogger("y").info("hidden too")
    get_logger("x").warning("shown")
    assert [e["event"] for e in lines(output)] == ["shown"]
    with pytest.raises(
        ValueError, match="level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'LOUD'"
    ):
        configure_logging(output, "LOUD")


def test_credentials_loaded_from_env_are_registered(output: io.StringIO, tmp_path: Path) -> None:
    odd_secret = "short+secret/with=chars"  # no pattern would find it in free text
    load_config(None, {"BINANCE_API_KEY": "AKEY-0001-x", "BINANCE_API_SECRET": odd_secret})
    get_logger().info(
        f"something mentions {odd_secret} and AKEY-0001-x, or short%2Bsecret%2Fwith%3Dchars"
    )
    text = output.getvalue()
    assert odd_secret not in text and "AKEY-0001-x" not in text and "short%2B" not in text


# --- sanitise and redact, unit by unit -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a?timestamp=1&signature={SIGNATURE}", "a?timestamp=1&signature=[REDACTED]"),
        # The first query parameter of a URL: ``https:`` must not swallow it as its own value.
        (f"https://h/api?signature={ED_SIG}", "https://h/api?signature=[REDACTED]"),
        ("https://h/api?signature=abc123&x=1", "https://h/api?signature=[REDACTED]&x=1"),
        (f'{{"listenKey":"{LISTEN_KEY}"}}', '{"listenKey":"[REDACTED]"}'),
        (f"{{'X-MBX-APIKEY': '{API_KEY}'}}", "{'X-MBX-APIKEY': '[REDACTED]'}"),
        (f'{{\\"apiKey\\": \\"{API_KEY}\\"}}', '{\\"apiKey\\": \\"[REDACTED]\\"}'),
        (f"wss://fstream.binance.com/ws/{LISTEN_KEY}", "wss://fstream.binance.com/ws/[REDACTED]"),
        (f"/stream/{VENUE_LISTEN_KEY[:20]}", "/stream/[REDACTED]"),
        (f"token {VENUE_LISTEN_KEY} end", "token [REDACTED] end"),
        (f"key:\n{PEM}after", "key:\n[REDACTED]\nafter"),
        ("-----BEGIN RSA PRIVATE KEY-----\nabc", "[REDACTED]"),
        (f"wsKey={WS_KEY}", "wsKey=[REDACTED]"),
        (f"api_secret: {API_SECRET}", "api_secret: [REDACTED]"),
        # Ordinary text stays as it is.
        (
            "BTCUSDT STOP_MARKET triggerPrice=59000.5 clientAlgoId=eg-1a2b3c",
            "BTCUSDT STOP_MARKET triggerPrice=59000.5 clientAlgoId=eg-1a2b3c",
        ),
        (
            "wss://fstream.binance.com/ws/btcusdt@markPrice@1s",
            "wss://fstream.binance.com/ws/btcusdt@markPrice@1s",
        ),
        ("Signature for this request is not valid.", "Signature for this request is not valid."),
        ("-" * 80, "-" * 80),
        (
            "exitguard.adapters.usdm_rest_long_module_name_without_any_digits_at_all",
            "exitguard.adapters.usdm_rest_long_module_name_without_any_digits_at_all",
        ),
        ("", ""),
    ],
)
def test_sanitise(text: str, expected: str) -> None:
    assert sanitise(text) == expected


def test_register_secret_refuses_short_values() -> None:
    assert not register_secret("abc")
    assert sanitise("abc def") == "abc def"
    assert register_secret("Another-Known-Value-9")
    assert sanitise("x Another-Known-Value-9 y") == "x [REDACTED] y"


def test_redact_structures() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    value = {
        "apiSecret": API_SECRET,
        "has_api_key": True,  # booleans and numbers cannot hold a credential
        "signature_len": 64,
        "nested": ({"privateKey": None}, {LISTEN_KEY: 1}),
        "set": {f"signature={SIGNATURE}"},
        "weird": Weird(),
        "error": ValueError(f"bad key {API_KEY}"),
    }
    assert redact(value) == {
        "apiSecret": REDACTED,
        "has_api_key": True,
        "signature_len": 64,
        "nested": [{"privateKey": None}, {REDACTED: 1}],
        "set": ["signature=[REDACTED]"],
        "weird": "<unrepresentable Weird: RuntimeError>",
        "error": "ValueError: bad key [REDACTED]",
    }
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(40):
        cursor["d"] = {}
        cursor = cursor["d"]  # type: ignore[assignment]
    assert "[...]" in json.dumps(redact(deep))


def test_background_writer_keeps_order_redacts_and_writes_warnings_before_returning() -> None:
    """``exitguard run`` renders lines on a writer thread: the order is kept, secrets are still
    redacted, a warning is in the stream when the call returns (never left queued), and
    closing the handler writes every queued info line."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(stream, "INFO", background=True)
    installed = [h for h in root.handlers if getattr(h, "exitguard_installed", False)]
    try:
        log = get_logger("exitguard.test").bind()
        for i in range(200):
            log.info("tick", n=i, apiKey=API_KEY)
        log.warning("bare", slot="main/usdm/BTCUSDT/BOTH/stop_loss")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        # Written before warning() returned, after every info line queued before it.
        assert [ln["event"] for ln in lines] == ["tick"] * 200 + ["bare"]
        assert [ln["n"] for ln in lines[:200]] == list(range(200))
        log.info("late", n=200)
        installed[0].close()
        assert json.loads(stream.getvalue().splitlines()[-1])["event"] == "late"
        assert API_KEY not in stream.getvalue()
    finally:
        _restore(saved)
