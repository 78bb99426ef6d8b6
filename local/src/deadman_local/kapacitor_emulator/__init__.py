"""An emulator of Kapacitor's HTTP API: the zero-install stand-in for a real
Kapacitor, and the home of what a real one cannot be made to do on demand.

What it is for, now that the tests and ``make run`` also run a real Kapacitor
1.5.7 (``deadman_local.real_kapacitor``):

* ``make run`` without the Kapacitor binaries (``KAPACITOR=emulator``): it keeps
  the project's tasks and templates, fires a device's deadman on request
  (``make demo``), and fires the heartbeat on its own (``silent_measurements``);
* fault injection: errors, "500 but stored", latency, flapping, a wedged task API,
  answers dribbled a byte at a time, a capacity limit, a listener that stops;
* the answers of 1.5, 1.6 and 1.7 where they differ (``_versions``), and
  Kapacitor's authentication;
* many alerts at once (``fire_many``), as a fleet-wide outage sends them.

Its fidelity is measured, not assumed: the tests of Kapacitor's behaviour run on
it and on the real server, and ``tests/emulator/test_emulator_fidelity.py``
replays the recorded exchanges on both. It is not a Kapacitor: it processes no
data, and reads only the shape of the project's TICKscripts (``_script``).

    emulator = KapacitorEmulator()
    with serve(emulator) as running:
        httpx.get(f"{running.url}/kapacitor/v1/ping")
"""

from ._alerts import AlertResult, HttpPostEndpoint, KafkaCluster
from ._app import RequestRecord
from ._emulator import KapacitorEmulator
from ._faults import Fault
from ._model import Task, Template, Var
from ._server import RunningEmulator, serve

__all__ = [
    "AlertResult",
    "Fault",
    "HttpPostEndpoint",
    "KafkaCluster",
    "KapacitorEmulator",
    "RequestRecord",
    "RunningEmulator",
    "Task",
    "Template",
    "Var",
    "serve",
]
