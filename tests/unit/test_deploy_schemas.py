"""The deployment files against their schemas, offline, and against the code they deploy.

- ``deploy/compose/compose.yaml`` against the Compose specification's JSON schema (the copy
  check-jsonschema vendors);
- every Kubernetes object in ``deploy/k8s/`` against Kubernetes' own JSON schemas (the strict
  copies kubernetes-validate ships: unknown fields are errors), and Strimzi's and KEDA's custom
  resources against ``deploy/k8s/schemas/`` (a subset of their CRDs, labelled as such);
- the files agree with the code: one KafkaTopic per topic in ``streams/topics.py``, only
  ``WARDWATCH_*`` variables that WardWatch reads, KEDA never scales past the partitions.

Each schema check also runs on a deliberately broken copy, which must fail.
"""

from __future__ import annotations

import copy
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from wardwatch.config import describe_settings, load_settings
from wardwatch.streams.topics import TOPICS, topic_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.31.0"  # the oldest Kubernetes minor the manifests target
_CRD_GROUPS = ("kafka.strimzi.io/", "keda.sh/")


def compose_errors(document: dict[str, Any]) -> list[str]:
    # the data file only: importing check_jsonschema would load its CLI, which wants a newer click than Faust allows
    vendored = metadata.distribution("check-jsonschema").locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json")
    schema = json.loads(Path(str(vendored)).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def k8s_errors(document: dict[str, Any]) -> list[str]:
    """Schema errors of one Kubernetes object: built-in kinds strictly, Strimzi/KEDA by our CRD subsets."""
    api, kind = document.get("apiVersion", ""), document.get("kind", "")
    if api.startswith(_CRD_GROUPS):
        path = K8S / "schemas" / f"{api.replace('/', '-')}-{kind.lower()}.json"
        if not path.exists():
            return [f"no schema for {api} {kind} under deploy/k8s/schemas"]
        schema = json.loads(path.read_text())
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(f"{path.name}:{d['kind']}/{d['metadata']['name']}", d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    assert compose_errors(_compose()) == []


@pytest.mark.parametrize("breakage", ["ports_not_a_list", "unknown_service_key", "restart_not_a_string"])
def test_a_broken_compose_file_is_rejected(breakage: str) -> None:
    broken = _compose()
    if breakage == "ports_not_a_list":
        broken["services"]["ward"]["ports"] = {"http": 8090}
    elif breakage == "unknown_service_key":
        broken["services"]["worker"]["replicaz"] = 2
    else:
        broken["services"]["worker"]["restart"] = ["always"]
    assert compose_errors(broken), f"the compose schema accepted a broken file ({breakage})"


def test_compose_mounts_exist_in_the_repository() -> None:
    base = COMPOSE.parent
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (base / source).exists(), f"{name} mounts {source}, which is not in the repository"
    assert (ROOT / _compose()["x-wardwatch"]["build"]["dockerfile"]).exists()


K8S_DOCS = k8s_documents()


@pytest.mark.parametrize("name,document", K8S_DOCS, ids=[n for n, _ in K8S_DOCS])
def test_kubernetes_manifest_is_valid(name: str, document: dict[str, Any]) -> None:
    assert k8s_errors(document) == []


def test_the_manifests_cover_every_component() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in K8S_DOCS}
    for wanted in [("Kafka", "wardwatch"), ("KafkaNodePool", "dual-role"), ("KafkaUser", "wardwatch"),
                   ("Deployment", "wardwatch-worker"), ("ScaledObject", "wardwatch-worker"), ("StatefulSet", "influxdb"),
                   ("Deployment", "grafana"), ("Deployment", "wardwatch-ward"), ("Deployment", "wardwatch-api")]:
        assert wanted in kinds
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _find(kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for _, d in K8S_DOCS if d["kind"] == kind and d["metadata"]["name"] == name))


@pytest.mark.parametrize("breakage", ["deployment_replicas_string", "deployment_unknown_field", "scram_typo",
                                      "scaledobject_without_triggers", "topic_partitions_string", "acl_bad_operation"])
def test_a_broken_manifest_is_rejected(breakage: str) -> None:
    if breakage == "deployment_replicas_string":
        doc = _find("Deployment", "wardwatch-worker")
        doc["spec"]["replicas"] = "two"
    elif breakage == "deployment_unknown_field":
        doc = _find("Deployment", "wardwatch-worker")
        doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    elif breakage == "scram_typo":
        doc = _find("Kafka", "wardwatch")
        doc["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "scram-sha-256"
    elif breakage == "scaledobject_without_triggers":
        doc = _find("ScaledObject", "wardwatch-worker")
        del doc["spec"]["triggers"]
    elif breakage == "topic_partitions_string":
        doc = _find("KafkaTopic", topic_name("wardwatch", "alerts"))
        doc["spec"]["partitions"] = "16"
    else:
        doc = _find("KafkaUser", "wardwatch")
        doc["spec"]["authorization"]["acls"][0]["operations"] = ["Everything"]
    assert k8s_errors(doc), f"the schema accepted a broken manifest ({breakage})"


def test_kafka_topics_match_the_code() -> None:
    topics = {d["spec"]["topicName"]: d["spec"] for _, d in K8S_DOCS if d["kind"] == "KafkaTopic"}
    assert set(topics) == {topic_name("wardwatch", key) for key in TOPICS}
    for key, spec in TOPICS.items():
        assert topics[topic_name("wardwatch", key)]["config"]["retention.ms"] == spec.retention_ms
    scaled = _find("ScaledObject", "wardwatch-worker")["spec"]
    assert scaled["maxReplicaCount"] <= min(t["partitions"] for t in topics.values()), "idle workers beyond the partitions"
    assert scaled["triggers"][0]["metadata"]["consumerGroup"] == load_settings().kafka.app_id


def _wardwatch_variables() -> dict[str, str]:
    found: dict[str, str] = {}
    compose = _compose()
    for name, service in compose["services"].items():
        for key in (service.get("environment") or {}):
            found[key] = f"compose {name}"
    for where, doc in K8S_DOCS:
        if doc["kind"] == "ConfigMap":
            found.update({key: where for key in doc.get("data", {})})
    return {k: v for k, v in found.items() if k.startswith("WARDWATCH_")}


def test_deploy_files_only_set_variables_wardwatch_reads() -> None:
    known = {row[0] for row in describe_settings(load_settings())} | {"WARDWATCH_LOG_LEVEL"}
    known_with_files = known | {f"{name}_FILE" for name in known}
    grafana_reads = {"WARDWATCH_INFLUX_URL", "WARDWATCH_INFLUX_DATABASE"}
    unknown = {k: v for k, v in _wardwatch_variables().items() if k not in known_with_files | grafana_reads}
    assert unknown == {}, f"deploy files set variables nothing reads: {unknown}"
    assert "WARDWATCH_KAFKA_SASL_PASSWORD_FILE" in _wardwatch_variables()
