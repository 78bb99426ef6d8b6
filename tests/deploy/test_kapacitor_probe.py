"""The liveness probe shipped for Kapacitor (kapacitor/): it restarts a wedged
Kapacitor, and nothing else, and it applies to the InfluxData chart's Deployment."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import kubernetes_validate
import pytest
import yaml

from deadman_local.kapacitor_emulator import KapacitorEmulator, serve
from tests.support.paths import ROOT, TEMPLATE_ID
from tests.support.tasks import task_body

PATCH = ROOT / "kapacitor" / "liveness-probe.yaml"
# What `helm template influxdata/kapacitor` renders for the Deployment, reduced to
# the fields the patch meets: the container is named after the chart.
CHART_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "kapacitor-kapacitor", "labels": {"app": "kapacitor-kapacitor"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "kapacitor-kapacitor"}},
        "template": {
            "metadata": {"labels": {"app": "kapacitor-kapacitor"}},
            "spec": {
                "containers": [
                    {
                        "name": "kapacitor",
                        "image": "kapacitor:1.7.7-alpine",
                        "ports": [{"containerPort": 9092}],
                    }
                ]
            },
        },
    },
}


def probes() -> dict[str, Any]:
    patch = yaml.safe_load(PATCH.read_text())
    [container] = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "kapacitor"
    return {key: value for key, value in container.items() if key.endswith("Probe")}


def test_kapacitor_probes_list_one_task_of_the_task_api() -> None:
    found = probes()
    assert set(found) == {"livenessProbe", "startupProbe"}
    for probe in found.values():
        url = urlsplit(probe["httpGet"]["path"])
        assert url.path == "/kapacitor/v1/tasks"
        assert parse_qs(url.query) == {"limit": ["1"], "fields": ["executing"]}
        assert probe["httpGet"]["port"] == 9092


def test_kapacitor_probes_valid_on_the_chart_deployment() -> None:
    deployment = copy.deepcopy(CHART_DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0].update(probes())
    kubernetes_validate.validate(deployment, "1.30", strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kapacitor_post_renderer_adds_the_probes(tmp_path: Path) -> None:
    rendered = subprocess.run(
        [str(ROOT / "kapacitor" / "post-render.sh")],
        input=yaml.safe_dump(CHART_DEPLOYMENT),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [deployment] = [doc for doc in yaml.safe_load_all(rendered) if doc]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {key: container[key] for key in probes()} == probes()


def test_kapacitor_liveness_probe_fails_only_on_a_wedged_kapacitor() -> None:
    probe = probes()["livenessProbe"]
    emulator = KapacitorEmulator()
    emulator.add_template(TEMPLATE_ID, _template())
    with serve(emulator) as running:
        url = running.url + probe["httpGet"]["path"]
        created = httpx.post(f"{running.url}/kapacitor/v1/tasks", json=task_body("d_x", "d"))
        assert created.status_code == 200
        answer = httpx.get(url, timeout=probe["timeoutSeconds"])
        # The kubelet counts 200-399 as success.
        assert 200 <= answer.status_code < 400
        assert [task["id"] for task in answer.json()["tasks"]] == ["d_x"]
        emulator.wedge()
        assert httpx.get(f"{running.url}/kapacitor/v1/ping").status_code == 204
        with pytest.raises(httpx.TimeoutException):
            httpx.get(url, timeout=probe["timeoutSeconds"] / 5)


def _template() -> str:
    from deadman.ops.template import bundled_template

    return bundled_template(TEMPLATE_ID)
