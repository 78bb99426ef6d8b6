"""The alert callback: Kapacitor's alert POST in, a historicization CloudEvent out.

Kapacitor POSTs plain JSON through its ``[[httppost]]`` endpoint and never retries.
The same alert JSON may also arrive as a CloudEvent's data, when a KafkaSource
reads the topic of Kapacitor's Kafka handler; both feed one mapping. The
heartbeat task's alerts become ``deadman-heartbeat`` events; once the sink has
one, ``HEARTBEAT_PING_URL`` (a dead-man's-switch service) is pinged, and a failed
ping is logged, never the alert's failure. With ``INFLUXDB_URL`` the data-path
task's verdicts, the marking of device alerts sent while InfluxDB was unhealthy,
and the sweep after it are ``_datapath``'s.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import TYPE_CHECKING, Any, Self

import httpx
from cloudevents.http import CloudEvent, from_http
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ._alerts import AlertMapper, parse_alert
from ._config import AlertSettings
from ._exceptions import DeadmanError, MalformedAlertError, SinkError, UnauthorizedError
from ._framework import read_limited_body
from ._logging import get_logger
from ._sinks import AlertSink, sink_from_settings
from ._telemetry import ALERTS, SINK_DURATION, telemetry
from .binding import is_http_cloudevent

if TYPE_CHECKING:
    from ._alerts import KapacitorAlert
    from ._datapath import DataPath

__all__ = ["AlertCallback"]

_log = get_logger("alerts")
# A ping that does not answer quickly must not hold the answer to Kapacitor.
_PING_TIMEOUT_SECONDS = 3.0


class AlertCallback:
    def __init__(
        self,
        settings: AlertSettings,
        sink: AlertSink | None = None,
        datapath: DataPath | None = None,
    ) -> None:
        self.settings = settings
        self.mapper = AlertMapper.from_settings(settings)
        self.sink = sink or sink_from_settings(settings)
        if datapath is None and settings.influxdb_url:
            # Imported only when configured: the callback's start-up stays as it was.
            from ._datapath import DataPath

            datapath = DataPath.from_settings(settings, self.mapper)
        self.datapath = datapath
        token = settings.alert_callback_token
        self._token = None if token is None else token.get_secret_value().encode()
        self._pinger: httpx.Client | None = None

    def close(self) -> None:
        self.sink.close()
        if self._pinger is not None:
            self._pinger.close()
        if self.datapath is not None:
            self.datapath.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def handle(self, request: Request) -> Response:
        """One server span per delivery, continuing the caller's ``traceparent``."""
        traceparent = request.headers.get("traceparent") or request.headers.get("ce-traceparent")
        with telemetry().server_span("alert", traceparent, {"deadman.function": "alert_callback"}):
            return self._handle(request)

    def _handle(self, request: Request) -> Response:
        self._authorize(request)
        if request.method != "POST":
            raise MalformedAlertError("alerts must be POSTed")
        alert = parse_alert(self._alert_json(request))
        if self.datapath is not None and self.datapath.is_verdict(alert):
            return self._verdict(alert)
        event = self.mapper.to_event(alert)
        fields: dict[str, Any] = {
            "alert_id": alert.id,
            "device": self.mapper.device_code(alert),
            "alert_level": alert.level,
            "previous_level": alert.previousLevel,
            "alert_time": alert.time.isoformat(),
        }
        level = {
            "deadman.alert.level": alert.level,
            "deadman.alert.kind": "heartbeat" if self.mapper.is_heartbeat(alert) else "device",
        }
        if event is None:
            _log.info(
                "alert level not published", extra={"fields": {**fields, "outcome": "ignored"}}
            )
            telemetry().add(ALERTS, 1, {**level, "deadman.outcome": "ignored"})
            return _json_response({"status": "ignored", "level": alert.level}, 200)
        if self.datapath is not None and self.datapath.mark(alert, event):
            fields["datapath"] = level["deadman.alert.datapath"] = event["datapath"]
        fields |= {"ce_id": event["id"], "ce_type": event["type"]}
        try:
            self._send(event)
        except SinkError:
            # The alert exists nowhere else: Kapacitor has dropped it already.
            _log.error(
                "alert not delivered to the sink; it would be lost",
                extra={"fields": {**fields, "outcome": "failed"}},
                exc_info=True,
            )
            telemetry().add(ALERTS, 1, {**level, "deadman.outcome": "failed"})
            raise
        _log.info("alert published", extra={"fields": {**fields, "outcome": "published"}})
        telemetry().add(ALERTS, 1, {**level, "deadman.outcome": "published"})
        if self.mapper.is_heartbeat(alert) and self.settings.heartbeat_ping_url:
            self._ping(self.settings.heartbeat_ping_url, fields)
        return _json_response(
            {
                "status": "published",
                "id": event["id"],
                "type": event["type"],
                "subject": event["subject"],
            },
            200,
        )

    def _verdict(self, alert: KapacitorAlert) -> Response:
        """A data-path verdict: its transitions published (restored followed by the
        sweep's events), the ticks in between counted."""
        assert self.datapath is not None
        fields: dict[str, Any] = {
            "alert_id": alert.id,
            "alert_level": alert.level,
            "previous_level": alert.previousLevel,
            "alert_time": alert.time.isoformat(),
        }
        counted = {"deadman.alert.level": alert.level, "deadman.alert.kind": "datapath"}
        transition = self.datapath.transition_event(alert)
        if transition is None:
            telemetry().add(ALERTS, 1, {**counted, "deadman.outcome": "ignored"})
            return _json_response({"status": "ignored", "level": alert.level}, 200)
        events = [transition]
        try:
            self._send(transition)
            if self.datapath.is_restored(transition):
                events += self.datapath.swept_events(alert)
                for event in events[1:]:
                    self._send(event)
        except DeadmanError as error:
            # Kapacitor will not send this transition again: say so loudly. A sink
            # failure is counted here; any other is counted with the answer.
            _log.error(
                "data-path transition not fully published: devices silent across the"
                " outage may stay reported only as marked",
                extra={"fields": {**fields, "ce_type": transition["type"], "outcome": "failed"}},
                exc_info=True,
            )
            if isinstance(error, SinkError):
                telemetry().add(ALERTS, 1, {**counted, "deadman.outcome": "failed"})
            raise
        swept = [event["subject"] for event in events[1:]]
        _log.info(
            f"data path {transition['type']}",
            extra={"fields": {**fields, "ce_id": transition["id"], "swept": swept}},
        )
        telemetry().add(ALERTS, 1, {**counted, "deadman.outcome": "published"})
        body = {"status": "published", "id": transition["id"], "type": transition["type"]}
        return _json_response({**body, "swept": swept}, 200)

    def _send(self, event: CloudEvent) -> None:
        """Hand the event to the sink in a client span; the event carries that span's
        trace context (CloudEvents Distributed Tracing) so consumers continue it."""
        attributes = {"deadman.sink": self.sink.kind}
        started = time.monotonic()
        with telemetry().client_span(f"send {self.sink.kind}", attributes) as context:
            for name, value in context.items():
                event[name] = value
            try:
                self.sink.send(event)
            finally:
                telemetry().record(SINK_DURATION, time.monotonic() - started, attributes)

    def _ping(self, url: str, fields: dict[str, Any]) -> None:
        """Tell the dead-man's-switch service the heartbeat went through."""
        if self._pinger is None:
            self._pinger = httpx.Client(timeout=_PING_TIMEOUT_SECONDS)
        try:
            response = self._pinger.get(url)
            response.raise_for_status()
        except httpx.HTTPError as error:
            _log.warning(
                "heartbeat ping failed; the heartbeat itself was published",
                extra={"fields": {**fields, "error": f"{type(error).__name__}: {error}"}},
            )

    def _authorize(self, request: Request) -> None:
        if self._token is None:
            return
        presented = request.headers.get("Authorization", "")
        scheme, _, credential = presented.partition(" ")
        expected = self._token
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.encode(), expected):
            raise UnauthorizedError("missing or wrong bearer token")

    def _alert_json(self, request: Request) -> Any:
        body = _read_body(request, self.settings.alert_max_body_bytes)
        if not is_http_cloudevent(request.headers):
            return body
        # Direct or wrapped (dev.knative.kafka.event): either way the data is the alert.
        data = from_http(dict(request.headers), body).data
        if not isinstance(data, dict | bytes | str):
            raise MalformedAlertError("the CloudEvent carries no alert JSON")
        return data


def _read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes (413 past it)."""
    body, too_long = read_limited_body(request, limit)
    if too_long:
        raise RequestEntityTooLarge(f"alert bodies are limited to {limit} bytes")
    return body


def _json_response(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
