"""The two alert paths in the manifests: the kafka-alerts components of knative/ and
kafka-sources/ together switch a deployment to Kapacitor's Kafka event handler."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from deadman import KapacitorSettings
from deadman_local.kustomize import parse_env_file, render
from tests.support.paths import ROOT

COMPONENT = "components/kafka-alerts"


@cache
def bundles() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    knative = render(ROOT / "knative", [ROOT / "knative" / COMPONENT])
    sources = render(ROOT / "kafka-sources", [ROOT / "kafka-sources" / COMPONENT])
    return knative, sources


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_kafka_alerts_component_sets_the_delivery_the_installer_reads() -> None:
    knative, _ = bundles()
    settings = one(knative, "ConfigMap", "deadman-settings")["data"]
    assert settings["ALERT_DELIVERY"] == "kafka"
    loaded = KapacitorSettings(
        alert_delivery=settings["ALERT_DELIVERY"],
        kapacitor_kafka_cluster=settings["KAPACITOR_KAFKA_CLUSTER"],
        kapacitor_alerts_topic=settings["KAPACITOR_ALERTS_TOPIC"],
    )
    assert loaded.alert_delivery == "kafka"
    default = parse_env_file(ROOT / "knative" / "settings.env")
    assert default["ALERT_DELIVERY"] == "httppost"  # the component is the only switch


def test_kafka_alerts_source_reads_the_topic_kapacitor_writes() -> None:
    knative, sources = bundles()
    settings = one(knative, "ConfigMap", "deadman-settings")["data"]
    source = one(sources, "KafkaSource", "alert-callback")
    assert source["spec"]["topics"] == [settings["KAPACITOR_ALERTS_TOPIC"]]
    assert source["spec"]["sink"]["ref"]["name"] == "alert-callback"
    assert source["spec"]["sink"]["ref"]["kind"] == "Service"
    one(knative, "Service", "alert-callback")  # the sink exists in the same deployment
    assert source["spec"]["ordering"] == "ordered"  # one device's alerts in order
    delivery = source["spec"]["delivery"]
    assert delivery["retry"] >= 5
    assert delivery["deadLetterSink"]["ref"]["kind"] == "KafkaSink"
    one(knative, "KafkaSink", delivery["deadLetterSink"]["ref"]["name"])
    one(sources, "KafkaTopic", settings["KAPACITOR_ALERTS_TOPIC"])


def test_kafka_alerts_callback_may_scale_to_zero_and_needs_no_token() -> None:
    knative, _ = bundles()
    service = one(knative, "Service", "alert-callback")
    template = service["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
    [container] = template["spec"]["containers"]
    refs = [ref.get("secretRef", {}).get("name") for ref in container["envFrom"]]
    assert "alert-callback-token" not in refs
    # Without the component the callback stays warm and authenticated.
    plain = one(render(ROOT / "knative"), "Service", "alert-callback")["spec"]["template"]
    assert plain["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "1"
    assert "alert-callback-token" in [
        ref.get("secretRef", {}).get("name") for ref in plain["spec"]["containers"][0]["envFrom"]
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("folder", ["knative", "kafka-sources"])
def test_kafka_alerts_component_real_kustomize_agrees(folder: str, tmp_path: Path) -> None:
    copy = tmp_path / folder
    shutil.copytree(ROOT / folder, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    kustomization["components"] = [COMPONENT]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    built = subprocess.run(
        ["kubectl", "kustomize", str(copy)], capture_output=True, text=True, check=True
    ).stdout
    real = {
        (d["kind"], d["metadata"]["name"].split("-")[0]) for d in yaml.safe_load_all(built) if d
    }
    ours = {
        (d["kind"], d["metadata"]["name"].split("-")[0])
        for d in render(ROOT / folder, [ROOT / folder / COMPONENT])
    }
    assert real == ours
