"""An emulator of Kapacitor's HTTP API, for tests and local runs.

It is not a Kapacitor: it stores tasks and templates, validates them the way
Kapacitor 1.5 to 1.7 do (check order, error texts, var rules, list paging), injects
faults, models capacity, and posts deadman alerts on demand (to ``[[httppost]]``
endpoints, or to Kafka as the Kafka event handler writes them). It processes no
data.

    emulator = KapacitorEmulator()
    with serve(emulator) as running:
        httpx.get(f"{running.url}/kapacitor/v1/ping")
"""

from ._alerts import AlertResult, HttpPostEndpoint, KafkaCluster
from ._app import RequestRecord
from ._emulator import DEFAULT_VERSION, KapacitorEmulator
from ._faults import Fault
from ._fleet import TimedAlert
from ._model import DBRP, Task, Template, Var
from ._server import RunningEmulator, serve

__all__ = [
    "DBRP",
    "DEFAULT_VERSION",
    "AlertResult",
    "Fault",
    "HttpPostEndpoint",
    "KafkaCluster",
    "KapacitorEmulator",
    "RequestRecord",
    "RunningEmulator",
    "Task",
    "Template",
    "TimedAlert",
    "Var",
    "serve",
]
