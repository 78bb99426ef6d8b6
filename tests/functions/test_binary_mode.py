"""Binary-mode header values are percent-decoded on receipt (HTTP binding 3.1.3.2),
which neither the CloudEvents SDK nor functions-framework does."""

from __future__ import annotations

from tests.support.apps import AppFactory
from tests.support.backends import KapacitorBackend
from tests.support.events import direct_binary, inner_event


def test_delivered_attributes_over_http_decode_binary_mode_values(
    function_client: AppFactory, kapacitor: KapacitorBackend
) -> None:
    """A replay (or any conformant sender) percent-encodes the type: it still applies."""
    client = function_client("enable_alert", KAPACITOR_URL=kapacitor.url, KAPACITOR_DB="iot")
    inner = inner_event("device-enabled", ["dev-pct"])
    delivery = direct_binary(inner)
    headers = {**delivery.headers, "ce-type": "device%2Denabled"}
    assert client.post("/", headers=headers, data=delivery.body).status_code == 200
    assert kapacitor.task("dev-pct_not_fed").status == "enabled"
