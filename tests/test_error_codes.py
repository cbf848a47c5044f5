"""Binance error-code table and the venue-error classifier (exitguard.domain.error_codes)."""

from __future__ import annotations

import pytest

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import (
    ERROR_CODES,
    SPOT_FILTER_FAILURE_NAMES,
    USDM_503_UNKNOWN_MESSAGE,
    ErrorClass,
    ErrorCode,
    classify_venue_error,
    filter_failure_message,
    lookup,
    message_for,
)

SPOT = Product.SPOT
USDM = Product.USDM
REJECTED = ErrorClass.REJECTED
UNKNOWN = ErrorClass.UNKNOWN_OUTCOME
TRANSIENT = ErrorClass.TRANSIENT

UNKNOWN_503 = "Unknown error, please check your request or try again later."
THROTTLED = (
    "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. "
    "Please try again."
)

CLASSIFY_CASES: list[tuple[Product, int | None, int | None, str, ErrorClass]] = [
    # HTTP status first: rate limits and bans back off, whatever the code.
    (SPOT, None, 429, "", TRANSIENT),
    (USDM, None, 429, "", TRANSIENT),
    (SPOT, -1003, 429, "", TRANSIENT),
    (USDM, -1015, 429, "", TRANSIENT),
    (SPOT, None, 418, "", TRANSIENT),
    (USDM, -1003, 418, "", TRANSIENT),
    # WAF
    (SPOT, None, 403, "", REJECTED),
    (USDM, None, 403, "", REJECTED),
    # backend timeout
    (SPOT, -1007, 408, "", UNKNOWN),
    (USDM, None, 408, "", UNKNOWN),
    # 5xx: unknown unless it is a USD-M 503 that general-info calls a failure
    (SPOT, None, 500, "", UNKNOWN),
    (SPOT, None, 503, "Service Unavailable.", UNKNOWN),
    (SPOT, -1008, 503, "", UNKNOWN),
    (SPOT, -1007, 504, "", UNKNOWN),
    (USDM, None, 503, UNKNOWN_503, UNKNOWN),
    (USDM, -1000, 503, UNKNOWN_503, UNKNOWN),
    (USDM, None, 503, "Service Unavailable.", TRANSIENT),
    (USDM, None, 503, " Service Unavailable. ", TRANSIENT),
    (USDM, -1008, 503, THROTTLED, TRANSIENT),
    (USDM, -1008, 503, "", TRANSIENT),
    (USDM, None, 503, THROTTLED, TRANSIENT),
    (USDM, None, 502, "Service Unavailable.", UNKNOWN),
    (USDM, None, 500, "", UNKNOWN),
    # general-info calls this 503 text a failure; exitguard still queries first (see module)
    (USDM, -1001, 503, ERROR_CODES[(USDM, -1001)].message, UNKNOWN),
    # codes: outcome unknown
    (SPOT, -1000, 400, "", UNKNOWN),
    (USDM, -1000, None, "", UNKNOWN),
    (SPOT, -1001, None, "", UNKNOWN),
    (USDM, -1001, 400, "", UNKNOWN),
    (SPOT, -1006, None, "", UNKNOWN),
    (USDM, -1006, 400, "", UNKNOWN),
    (SPOT, -1007, None, "", UNKNOWN),
    (USDM, -1007, None, "", UNKNOWN),
    # spot cancel-replace half done: reconcile; fully failed: rejected
    (SPOT, -2021, 409, "Order cancel-replace partially failed.", UNKNOWN),
    (SPOT, None, 409, "", UNKNOWN),
    (SPOT, -2022, 400, "Order cancel-replace failed.", REJECTED),
    # codes: transient
    (SPOT, -1003, None, "", TRANSIENT),
    (USDM, -1003, 400, "", TRANSIENT),
    (SPOT, -1015, 400, "", TRANSIENT),
    (USDM, -1015, None, "", TRANSIENT),
    (SPOT, -1008, None, "", TRANSIENT),
    (USDM, -1008, 400, "", TRANSIENT),
    (SPOT, -1021, 400, "", TRANSIENT),
    (USDM, -1021, 400, "", TRANSIENT),
    (USDM, -4117, 400, "stop order is triggering", TRANSIENT),
    (USDM, -5028, 400, "", TRANSIENT),
    # codes: rejected, listed or not
    (USDM, -2021, 400, "Order would immediately trigger.", REJECTED),
    (USDM, -2022, 400, "", REJECTED),
    (USDM, -4120, 400, "", REJECTED),
    (USDM, -4164, 400, "", REJECTED),
    (USDM, -2007, 400, "Invalid callBack rate.", REJECTED),
    (USDM, -5040, 400, "", REJECTED),
    (SPOT, -1013, 400, "Filter failure: LOT_SIZE", REJECTED),
    (SPOT, -2010, 400, "Order would trigger immediately.", REJECTED),
    (SPOT, -2011, 400, "Unknown order sent.", REJECTED),
    (SPOT, -1022, 401, "", REJECTED),
    (SPOT, -4117, 400, "", REJECTED),  # -4117 is transient only where it exists (USD-M)
    (SPOT, -9999, 400, "", REJECTED),
    (USDM, -9999, None, "", REJECTED),
    # no code
    (SPOT, None, None, "", UNKNOWN),
    (USDM, None, None, "", UNKNOWN),
    (SPOT, None, 400, "", REJECTED),
    (USDM, None, 404, "", REJECTED),
    (USDM, None, 409, "", REJECTED),
]


@pytest.mark.parametrize(("product", "code", "status", "message", "expected"), CLASSIFY_CASES)
def test_classify_venue_error(
    product: Product, code: int | None, status: int | None, message: str, expected: ErrorClass
) -> None:
    assert classify_venue_error(product, code, status, message) is expected


def test_classifier_never_answers_invalid_locally() -> None:
    codes: list[int | None] = [None, -9999, *{code for _, code in ERROR_CODES}]
    statuses: list[int | None] = [None, 200, 400, 401, 403, 404, 408, 409, 418, 429, 500, 503]
    for product in Product:
        for code in codes:
            for status in statuses:
                got = classify_venue_error(product, code, status, "Service Unavailable.")
                assert got is not ErrorClass.INVALID_LOCALLY


REQUIRED_CODES = [
    -1000, -1001, -1002, -1003, -1006, -1007, -1008, -1013, -1014, -1015, -1021, -1022,
    -1100, -1101, -1102, -1103, -1104, -1105, -1106, -1111, -1112, -1114, -1115, -1116,
    -1117, -1121, -1125, -1130, -1158, -1160, -1165, -1166, -1168, -1196, -1197, -1198,
    -1199, -2008, -2010, -2011, -2013, -2014, -2015, -2019, -2021, -2022, -2025, -2026,
    -2035, -2036, -4001, -4002, -4003, -4004, -4005, -4006, -4007, -4013, -4014, -4015,
    -4016, -4023, -4024, -4045, -4059, -4060, -4061, -4067, -4068, -4116, -4117, -4118,
    -4120, -4131, -4135, -4137, -4138, -4142, -4164, -5021, -5022,
    -2007,  # callbackRate out of range (undocumented)
    -5040,  # goodTillDate
]  # fmt: skip


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_required_code_is_listed(code: int) -> None:
    assert any(lookup(product, code) is not None for product in Product)


@pytest.mark.parametrize(
    ("product", "code", "name"),
    [
        (USDM, -2021, "ORDER_WOULD_IMMEDIATELY_TRIGGER"),
        (USDM, -2022, "REDUCE_ONLY_REJECT"),
        (USDM, -4120, "STOP_ORDER_SWITCH_ALGO"),
        (USDM, -4117, "STOP_ORDER_TRIGGERING"),
        (USDM, -4023, "QTY_NOT_INCREASED_BY_STEP_SIZE"),
        (USDM, -4135, "INVALID_ACTIVATION_PRICE"),
        (USDM, -4137, "QUANTITY_EXISTS_WITH_CLOSE_POSITION"),
        (USDM, -4138, "REDUCE_ONLY_MUST_BE_TRUE"),
        (USDM, -4164, "MIN_NOTIONAL"),
        (USDM, -5040, "FUTURE_GOOD_TILL_DATE"),
        (USDM, -2019, "MARGIN_NOT_SUFFICIEN"),
        (SPOT, -1013, "INVALID_MESSAGE"),
        (SPOT, -2026, "ORDER_ARCHIVED"),
        (USDM, -2026, "REDUCE_ONLY_ORDER_TYPE_NOT_SUPPORTED"),
        (SPOT, -1008, "SERVER_BUSY"),
    ],
)
def test_names(product: Product, code: int, name: str) -> None:
    entry = lookup(product, code)
    assert entry is not None
    assert entry.name == name


def test_spot_and_futures_2021_2022_differ() -> None:
    for code in (-2021, -2022):
        spot, usdm = ERROR_CODES[(SPOT, code)], ERROR_CODES[(USDM, code)]
        assert spot is not usdm
        assert spot.name != usdm.name
        assert spot.message != usdm.message
    assert ERROR_CODES[(SPOT, -2021)].message == "Order cancel-replace partially failed."
    assert ERROR_CODES[(USDM, -2021)].message == "Order would immediately trigger."
    assert ERROR_CODES[(SPOT, -2021)].products == frozenset({SPOT})
    assert ERROR_CODES[(USDM, -2021)].products == frozenset({USDM})


def test_4120_message_is_verbatim() -> None:
    assert ERROR_CODES[(USDM, -4120)].message == (
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints "
        "instead."
    )
    assert (SPOT, -4120) not in ERROR_CODES


def test_a_few_messages_are_verbatim() -> None:
    assert ERROR_CODES[(USDM, -4117)].message == "stop order is triggering"
    assert ERROR_CODES[(USDM, -4142)].message == (
        "REJECT: take profit or stop order will be triggered immediately"
    )
    assert ERROR_CODES[(SPOT, -2013)].message == "Order does not exist."
    assert ERROR_CODES[(SPOT, -2013)] is ERROR_CODES[(USDM, -2013)]
    assert "Unknown order sent." in ERROR_CODES[(SPOT, -2011)].other_messages
    assert THROTTLED in ERROR_CODES[(USDM, -1008)].other_messages
    assert USDM_503_UNKNOWN_MESSAGE == UNKNOWN_503


def test_every_key_matches_its_entry() -> None:
    assert ERROR_CODES
    for (product, code), entry in ERROR_CODES.items():
        assert isinstance(entry, ErrorCode)
        assert entry.code == code
        assert product in entry.products


def test_products_are_exactly_the_keys_pointing_at_the_entry() -> None:
    owners: dict[int, set[Product]] = {}
    entries: dict[int, ErrorCode] = {}
    for (product, _), entry in ERROR_CODES.items():
        owners.setdefault(id(entry), set()).add(product)
        entries[id(entry)] = entry
    for key, entry in entries.items():
        assert entry.products == frozenset(owners[key]), entry


def test_entry_class_is_what_the_classifier_says_for_the_bare_code() -> None:
    for (product, code), entry in ERROR_CODES.items():
        assert entry.error_class is classify_venue_error(product, code, None)
        assert entry.error_class is classify_venue_error(product, code, 400)
        assert entry.error_class is not ErrorClass.INVALID_LOCALLY


def test_entries_are_well_formed() -> None:
    for entry in ERROR_CODES.values():
        assert entry.code < 0
        assert entry.name.strip() == entry.name and entry.name
        assert entry.message.strip() == entry.message and entry.message
        assert entry.message not in entry.other_messages
        assert "`" not in entry.message
        assert all(m and "`" not in m for m in entry.other_messages)
    undocumented = {(p, c) for (p, c), e in ERROR_CODES.items() if not e.documented}
    assert undocumented == {(USDM, -2007), (SPOT, -2008)}


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ERROR_CODES[(SPOT, -1)] = ERROR_CODES[(SPOT, -1000)]  # type: ignore[index]


def test_error_code_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="negative"):
        ErrorCode(1, "X", "m", REJECTED, frozenset({SPOT}))
    with pytest.raises(ValueError, match="no product"):
        ErrorCode(-1, "X", "m", REJECTED, frozenset())


def test_message_for_fills_placeholders() -> None:
    assert message_for(USDM, -4164, "100") == (
        "Order's notional must be no smaller than 100 (unless you choose reduce only)"
    )
    assert message_for(SPOT, -1100, "newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$") == (
        "Illegal characters found in parameter 'newClientOrderId'; legal range is "
        "'^[a-zA-Z0-9-_]{1,36}$'."
    )
    assert message_for(USDM, -1102, "stopPrice") == (
        "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."
    )
    assert message_for(USDM, -1015, "1200", "1m") == (
        "Too many new orders; current limit is 1200 orders per 1m."
    )
    # args are inserted literally, even when they contain %s themselves
    assert message_for(SPOT, -1106, "%s") == "Parameter '%s' sent when not required."
    assert message_for(USDM, -2021) == "Order would immediately trigger."


def test_message_for_checks_arguments() -> None:
    assert ERROR_CODES[(SPOT, -1100)].placeholders == 2
    with pytest.raises(ValueError, match="takes 2"):
        message_for(SPOT, -1100, "only-one")
    with pytest.raises(ValueError, match="takes 0"):
        message_for(USDM, -4120, "extra")
    with pytest.raises(KeyError):
        message_for(SPOT, -4120)


def test_filter_failure_messages() -> None:
    assert filter_failure_message("LOT_SIZE") == "Filter failure: LOT_SIZE"
    assert filter_failure_message("TRAILING_DELTA") == "Filter failure: TRAILING_DELTA"
    spot_1013 = ERROR_CODES[(SPOT, -1013)]
    for name in SPOT_FILTER_FAILURE_NAMES:
        assert filter_failure_message(name) in spot_1013.other_messages
    with pytest.raises(ValueError):
        filter_failure_message("NOT_A_FILTER")


def test_lookup() -> None:
    assert lookup(USDM, -4120) is ERROR_CODES[(USDM, -4120)]
    assert lookup(SPOT, -4120) is None
