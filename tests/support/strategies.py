"""Hypothesis strategies: device codes, lifecycle CloudEvent deliveries, alert POSTs;
and FUZZ, the settings the fuzz and injection tests run under."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.shared import captured_alerts
from tests.support.tasks import SUFFIX

# Derandomized so a run is reproducible; deadline off because every example goes
# through the functions-framework app and an emulator over loopback HTTP.
settings.register_profile(
    "reliability",
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("reliability")

MAX_CODE = 128
LIFECYCLE_TYPES = ["device-created", "device-enabled", "device-disabled", "device-deleted"]
LEGACY = ["created", "enabled", "disabled", "deleted", "ENABLED", "renamed"]


def accepted(code: str, suffix: str = SUFFIX, max_length: int = MAX_CODE) -> bool:
    """The rule of the spec, written independently of the code under test:
    Kapacitor's ``^[-._\\p{L}0-9]+$`` (Unicode letters, ASCII digits) for the task
    id, a length limit on the code, and not only dots."""
    task_id = code + suffix
    return (
        0 < len(code) <= max_length
        and all(
            unicodedata.category(char).startswith("L") or char in "0123456789-._"
            for char in task_id
        )
        and set(task_id) != {"."}
    )


# Characters a code may hold, and every other kind of character.
letters = st.characters(categories=["L"])
code_chars = st.one_of(letters, st.sampled_from("0123456789-._"))
accepted_codes = st.text(code_chars, min_size=1, max_size=40)
anything = st.characters(exclude_categories=[])  # surrogates included
NASTY = [
    "",
    'a"b',
    "a'b",
    "a\\b",
    "a/b",
    "../etc",
    "..",
    ".",
    "a b",
    "a\x00b",
    "a\nb",
    "\u202eevil",
    "a\u200db",
    "e\u0301",
    "\u0663",
    "\u00bd",
    "\U0001f525",
    "%2F",
    "a%20b",
    "a?b=c",
    "a#b",
    "a;b",
    "a*",
    '"; DROP MEASUREMENT x; --',
    'x" WHERE 1=1 OR "a',
    "\ud800",
    "A" * (MAX_CODE + 1),
    "é" * MAX_CODE,
]
codes = st.one_of(
    accepted_codes,
    accepted_codes,
    st.sampled_from(NASTY),
    st.text(anything, max_size=30),
    st.text(code_chars, min_size=1, max_size=8).map(lambda c: c + "/" + c),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(anything, max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
    ),
    max_leaves=12,
)
# Header values must be latin-1 without line breaks to be sent at all.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)
good_times = st.sampled_from(
    ["2026-11-21T17:45:01.123Z", "2026-11-21T17:45:01+02:00", "2026-11-21T17:45:01z"]
)
times = st.one_of(
    good_times,
    st.sampled_from(["", "yesterday", "2026-11-21", "2026-11-21T17:45:01", "9999-99-99T99:99"]),
    st.text(max_size=30),
)


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    devices: tuple[str, ...]  # every device code the event names, if it is an event


@st.composite
def lifecycle_deliveries(draw: st.DrawFn) -> Delivery:
    """A POST a KafkaSource could send, or something that only looks like one.

    About half are well-formed events (with any device codes); the others have one
    part broken: an attribute missing or of the wrong kind, the data, the content
    type, or the whole body.
    """
    mode = draw(st.sampled_from(["wrapped", "wrapped-structured", "binary", "structured", "raw"]))
    if mode == "raw":
        body = draw(st.one_of(st.binary(max_size=200), json_values.map(_json_bytes)))
        headers = draw(st.dictionaries(st.sampled_from(_HEADER_NAMES), header_text, max_size=4))
        return Delivery(headers, body, ())
    broken = draw(
        st.sampled_from(
            [None] * 8 + ["id", "type", "time", "specversion", "source", "data", "headers"]
        )
    )
    devices = draw(st.lists(codes, min_size=1, max_size=4))
    data: Any = {"devicescode": devices}
    if draw(st.booleans()):
        data["eventtype"] = draw(st.sampled_from(LEGACY))
    inner: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(st.one_of(st.just("evt-1"), st.text(anything, min_size=1, max_size=40))),
        "source": "/debezium/mysql/cfg",
        "type": draw(st.sampled_from([*LIFECYCLE_TYPES, "outbox-row"])),
        "time": draw(good_times),
        "datacontenttype": "application/json",
    }
    if broken == "data":
        data = draw(
            st.one_of(
                json_values,
                st.just({"devicescode": devices[0]}),
                st.just({"devicescode": []}),
                st.just({"devicescode": [*devices, 7]}),
                st.just({"devicescode": {"a": devices}}),
            )
        )
    elif broken is not None and broken != "headers":
        if draw(st.booleans()):
            inner.pop(broken)
        else:
            inner[broken] = draw(st.one_of(times, json_scalars, st.sampled_from(["0.3", "2"])))
    inner["data"] = data
    # What the function will read: JSON joins a generated surrogate pair into one char.
    sent = json.loads(_json_bytes(data))
    named = tuple(_strings(sent.get("devicescode"))) if isinstance(sent, dict) else ()
    extensions = draw(
        st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9]{0,12}", fullmatch=True), header_text, max_size=3
        )
    )
    extra: dict[str, str] = {}
    if broken == "headers":
        extra = draw(st.dictionaries(st.sampled_from(_HEADER_NAMES), header_text, min_size=1))
    if mode in ("structured", "binary"):
        inner.update({k: v for k, v in extensions.items() if k not in inner})
    if mode == "structured":
        headers = {"Content-Type": "application/cloudevents+json", **extra}
        return Delivery(headers, _json_bytes(inner), named)
    if mode == "binary":
        headers = {
            f"ce-{name}": _latin1(value)
            for name, value in inner.items()
            if name not in ("data", "datacontenttype")
        }
        headers["Content-Type"] = "application/json"
        return Delivery({**headers, **extra}, _json_bytes(data), named)
    wrapper = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:7",
        "ce-source": "/apis/v1/namespaces/iot/kafkasources/enable-alert#topic",
        "ce-type": "dev.knative.kafka.event",
        **{f"ce-{k}": v for k, v in extensions.items() if k not in _WRAPPER_ATTRIBUTES},
        **extra,
    }
    if mode == "wrapped":
        return Delivery(wrapper, _json_bytes(inner), named)
    structured: dict[str, Any] = {
        name[3:]: value for name, value in wrapper.items() if name.startswith("ce-")
    }
    structured.update(datacontenttype="application/json", data=inner)
    headers = {"Content-Type": "application/cloudevents+json", **extra}
    return Delivery(headers, _json_bytes(structured), named)


_WRAPPER_ATTRIBUTES = {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}
_HEADER_NAMES = [
    "Content-Type",
    "ce-specversion",
    "ce-id",
    "ce-type",
    "ce-source",
    "ce-time",
    "Content-Encoding",
    "Transfer-Encoding",
    "X-Forwarded-For",
    "Prefer",
]


def _json_bytes(value: Any) -> bytes:
    # ensure_ascii escapes lone surrogates, as any JSON writer would.
    return json.dumps(value).encode()


def _latin1(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("latin-1", "replace").decode("latin-1").replace("\n", " ").replace("\r", " ")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


_CRITICAL = next(body for body in captured_alerts() if body["level"] == "CRITICAL")


@st.composite
def alert_bodies(draw: st.DrawFn) -> bytes:
    """Bytes, JSON of any shape, or Kapacitor's alert with fields changed or dropped."""
    kind = draw(st.sampled_from(["bytes", "json", "alert", "alert", "alert", "alert"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return _json_bytes(draw(json_values))
    alert = dict(_CRITICAL)
    levels = st.sampled_from(["OK", "CRITICAL", "WARNING", "INFO"])
    alert.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": st.text(anything, min_size=1, max_size=60),
                    "level": levels,
                    "previousLevel": levels,
                    "duration": st.integers(min_value=0, max_value=2**63),
                    "message": st.text(anything, max_size=60),
                    "time": st.sampled_from(["2026-11-21T17:47:10.5+01:00", "2026-11-21T17:47:10"]),
                    "data": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
                },
            )
        )
    )
    if draw(st.sampled_from([False, False, True])):
        broken = st.one_of(
            json_values,
            st.sampled_from(["critical", "", "2026-13-01T00:00:00Z", "0"]),
            st.integers(min_value=-(2**64), max_value=2**64),
        )
        names = ["id", "level", "previousLevel", "time", "duration", "data", "recoverable"]
        alert.update(draw(st.dictionaries(st.sampled_from(names), broken, min_size=1)))
        for name in draw(st.lists(st.sampled_from(sorted(alert)), max_size=2)):
            alert.pop(name, None)
    return _json_bytes(alert)
