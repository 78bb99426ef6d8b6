"""CloudEvents over HTTP: binary-mode headers, their encoding, and telling a
CloudEvent request apart (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = [
    "STRUCTURED_CONTENT_TYPE",
    "HttpHeaders",
    "decode_header_value",
    "encode_header_value",
    "http_headers",
    "is_http_binary",
    "is_http_cloudevent",
    "is_structured",
]

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
_STRUCTURED_PREFIX = "application/cloudevents"


def encode_header_value(value: str) -> str:
    """An attribute value as an HTTP header value (HTTP binding 3.1.3.2)."""
    return "".join(
        char
        if "!" <= char <= "~" and char not in '"%'
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in value
    )


def decode_header_value(value: str) -> str:
    """One round of percent-decoding; a value that does not decode to UTF-8 is
    returned as it came (it was not percent-encoded by a conformant sender)."""
    if "%" not in value:
        return value
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        hex_digits = value[index + 1 : index + 3]
        if char == "%" and len(hex_digits) == 2 and _is_hex(hex_digits):
            out.append(int(hex_digits, 16))
            index += 3
        else:
            out.extend(char.encode("utf-8", "surrogatepass"))
            index += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return value


def http_headers(attributes: Mapping[str, str]) -> dict[str, str]:
    """Binary-mode HTTP headers for these attributes, values encoded."""
    headers = {}
    for name, value in attributes.items():
        header = "Content-Type" if name == "datacontenttype" else f"ce-{name}"
        headers[header] = encode_header_value(value)
    return headers


def is_structured(content_type: str) -> bool:
    """Whether a content type is a structured-mode CloudEvent's (any event format)."""
    return content_type.lower().startswith(_STRUCTURED_PREFIX)


class HttpHeaders(Protocol):
    """Case-insensitive request headers (werkzeug's, httpx's)."""

    def __contains__(self, name: str, /) -> bool: ...

    def get(self, name: str, /) -> str | None: ...


def is_http_binary(headers: HttpHeaders) -> bool:
    """Whether an HTTP request (case-insensitive ``headers``) is a binary-mode CloudEvent."""
    return "ce-specversion" in headers


def is_http_cloudevent(headers: HttpHeaders) -> bool:
    """Whether an HTTP request carries a CloudEvent, in binary or structured mode."""
    return is_http_binary(headers) or is_structured(headers.get("Content-Type") or "")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
