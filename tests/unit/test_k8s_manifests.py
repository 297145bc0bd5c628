"""deploy/k8s: every manifest is a valid Kubernetes object (strict schemas, offline), and it
matches the worker: the paths and port it serves, the settings it reads, the secrets it
loads, the time it needs to stop, the alert rules in deploy/prometheus."""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import faust
import kubernetes_validate
import pytest
import yaml
from faust.types.settings import Settings as FaustSettings

from withdrawguard.auth.users import load_users
from withdrawguard.settings import PREFIX, Settings
from withdrawguard.streaming.sinks.consumer import STOP_WAIT
from withdrawguard.web.console.sessions import load_secret
from withdrawguard.web.decision_api import load_tokens
from withdrawguard.web.health import register_health

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
# The oldest Kubernetes the manifests are written for (StatefulSet's
# persistentVolumeClaimRetentionPolicy is GA from 1.32) and the newest kubernetes-validate
# ships schemas for.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
# Faust's own steps of a stop besides the sinks (drain the batch in hand, commit, flush the
# tables and the producer, leave the group): statefulset.yaml's justification of the grace.
FAUST_STOP_SECONDS = 20
# RSS beyond the tables' budget, the most docs/performance.md measured (full size, 512 MiB).
RSS_BEYOND_BUDGET_MIB = 320


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append((path.relative_to(K8S).as_posix(), doc))
    return docs


DOCUMENTS = _documents()
KUSTOMIZATION = next(d for _, d in DOCUMENTS if d["kind"] == "Kustomization")
OBJECTS = [(p, d) for p, d in DOCUMENTS if d["kind"] != "Kustomization"]


def one(kind: str, name: str) -> dict[str, Any]:
    [found] = [d for _, d in OBJECTS if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


STATEFULSET = one("StatefulSet", "withdrawguard")
POD = STATEFULSET["spec"]["template"]
[CONTAINER] = POD["spec"]["containers"]
CONFIG = one("ConfigMap", "withdrawguard-config")["data"]
SECRET = one("Secret", "withdrawguard-secrets")
ENV = {e["name"]: e for e in CONTAINER["env"]}
MOUNTS = {m["name"]: m for m in CONTAINER["volumeMounts"]}
SECRETS_DIR = MOUNTS["secrets"]["mountPath"]


def mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"{quantity}: write memory in Mi or Gi"
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_strict_kubernetes_schemas(version: str) -> None:
    errors = []
    for path, doc in OBJECTS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path} {doc['kind']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert errors == []
    kinds = sorted(d["kind"] for _, d in OBJECTS)
    assert kinds == [
        *["ConfigMap"] * 3,
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_strict_validation_rejects_a_field_kubernetes_does_not_know() -> None:
    misspelled = copy.deepcopy(STATEFULSET)
    misspelled["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(kubernetes_validate.ValidationError, match="terminationGracePeriod"):
        kubernetes_validate.validate(misspelled, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_applies_every_manifest_except_the_example_secret() -> None:
    files = {p for p, _ in OBJECTS} - {"secret.example.yaml"}
    assert sorted(KUSTOMIZATION["resources"]) == sorted(files)
    assert [i["name"] for i in KUSTOMIZATION["images"]] == [CONTAINER["image"].split(":")[0]]


def test_probes_ask_the_paths_the_worker_serves_on_its_web_port() -> None:
    app = faust.App("k8s-probe-test", autodiscover=False)
    register_health(app)
    served = set(app.web.views)
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/health"
    assert CONTAINER["startupProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert CONTAINER[probe]["httpGet"]["path"] in served
        assert CONTAINER[probe]["httpGet"]["port"] == "web"


def test_the_web_port_is_the_settings_default_everywhere() -> None:
    [port] = CONTAINER["ports"]
    default = Settings().web_port
    assert port == {"name": "web", "containerPort": default, "protocol": "TCP"}
    assert int(CONFIG["WG_WEB_PORT"]) == default
    assert POD["metadata"]["annotations"]["prometheus.io/port"] == str(default)
    for name in ("withdrawguard-workers", "withdrawguard-web"):
        [service_port] = one("Service", name)["spec"]["ports"]
        assert service_port["targetPort"] == "web"
    assert ENV["WG_CANONICAL_URL"]["value"].endswith(f":{default}")


def test_every_wg_variable_is_a_setting_and_read_as_written(tmp_path: Path) -> None:
    settings_vars = {PREFIX + f.name.upper(): f.name for f in fields(Settings)}
    given = dict(CONFIG) | {k: e["value"] for k, e in ENV.items() if k.startswith(PREFIX)}
    assert set(given) <= set(settings_vars), set(given) - set(settings_vars)
    settings = Settings.from_env(_with_secret_files(given, tmp_path))
    for var, raw in given.items():
        value = getattr(settings, settings_vars[var])
        if not var.endswith("_FILE"):
            assert str(value) == raw, var


def test_the_example_secret_satisfies_every_secret_file_setting(tmp_path: Path) -> None:
    keys = set(SECRET["stringData"])
    named = {Path(v).name for v in CONFIG.values() if v.startswith(SECRETS_DIR + "/")}
    assert named == keys
    for var, value in CONFIG.items():
        if var.endswith("_FILE"):
            assert Path(value).parent == Path(SECRETS_DIR), var
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == SECRET["metadata"]["name"]
    settings = Settings.from_env(_with_secret_files(CONFIG, tmp_path))
    # The placeholders load, and are harmless: no service token, no console user.
    assert settings.session_secret_file is not None
    assert len(load_secret(settings.session_secret_file, tmp_path, logging.getLogger())) >= 16
    assert load_tokens(settings.service_tokens_file) == ()
    assert load_users(settings.users_file) == {}


def test_the_example_secret_holds_only_placeholders() -> None:
    assert "data" not in SECRET
    for key, value in SECRET["stringData"].items():
        assert "REPLACE-ME" in value, key
    assert "secret.example.yaml" not in KUSTOMIZATION["resources"]


def test_memory_request_and_limit_follow_the_tables_budget() -> None:
    budget = int(CONFIG["WG_TABLE_MEMORY_MB"])
    resources = CONTAINER["resources"]
    request = mebibytes(resources["requests"]["memory"])
    assert request == mebibytes(resources["limits"]["memory"])
    assert request >= 1.5 * (budget + RSS_BEYOND_BUDGET_MIB)
    assert "cpu" not in resources["limits"]


def test_the_disruption_budget_and_services_select_the_statefulset_pods() -> None:
    pod_labels = POD["metadata"]["labels"]
    selector = STATEFULSET["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    pdb = one("PodDisruptionBudget", "withdrawguard")["spec"]
    assert pdb["selector"]["matchLabels"] == selector
    assert pdb["maxUnavailable"] == 1
    for name in ("withdrawguard-workers", "withdrawguard-web"):
        assert one("Service", name)["spec"]["selector"] == selector
    headless = one("Service", STATEFULSET["spec"]["serviceName"])["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True


def test_no_more_workers_than_partitions() -> None:
    assert STATEFULSET["spec"]["replicas"] <= int(CONFIG["WG_PARTITIONS"])


def test_the_grace_period_covers_a_clean_stop() -> None:
    sinks = sum(
        p.read_text(encoding="utf-8").count("SinkConsumer(")
        for p in (ROOT / "src/withdrawguard/streaming/sinks").glob("*.py")
        if p.name != "consumer.py"
    )
    # the registry; the alerts' and the case events' notify feeds, which stop together
    # (streaming/sinks/notify.py); the case intake, projection and links feed, which stop
    # together (streaming/sinks/cases.py): three waits of STOP_WAIT at most
    assert sinks == 6
    sleep, seconds = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    needed = int(seconds) + 3 * STOP_WAIT + FAUST_STOP_SECONDS
    assert needed == 55
    assert POD["spec"]["terminationGracePeriodSeconds"] > needed


def test_workers_advertise_their_stable_pod_name_to_each_other(tmp_path: Path) -> None:
    names = list(ENV)
    assert names.index("POD_NAME") < names.index("WG_CANONICAL_URL")
    assert names.index("POD_NAMESPACE") < names.index("WG_CANONICAL_URL")
    assert ENV["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "NODE_CANONICAL_URL" not in ENV  # Faust's own variable would win over ours
    url = ENV["WG_CANONICAL_URL"]["value"]
    url = url.replace("$(POD_NAME)", "withdrawguard-0").replace("$(POD_NAMESPACE)", "ns")
    env = _with_secret_files(dict(CONFIG) | {"WG_CANONICAL_URL": url}, tmp_path)
    settings = Settings.from_env(env)
    service = STATEFULSET["spec"]["serviceName"]
    assert settings.advertised_url == f"http://withdrawguard-0.{service}.ns.svc:6066"
    # As create_app passes it to Faust, which advertises it to the group.
    conf = FaustSettings(
        "withdrawguard",
        env={},
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.advertised_url,
    )
    assert str(conf.canonical_url) == settings.advertised_url


def test_service_links_are_off_because_faust_reads_their_variables() -> None:
    # A Service named "web" gives every pod WEB_PORT=tcp://..., which Faust reads as its port.
    with pytest.raises(ValueError, match="tcp://"):
        FaustSettings("withdrawguard", env={"WEB_PORT": "tcp://10.0.0.1:6066"}, web_port=6066)
    assert POD["spec"]["enableServiceLinks"] is False


def test_the_pod_runs_unprivileged_with_only_its_data_dir_writable() -> None:
    pod, container = POD["spec"]["securityContext"], CONTAINER["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    [claim] = STATEFULSET["spec"]["volumeClaimTemplates"]
    data = MOUNTS[claim["metadata"]["name"]]
    assert data["mountPath"] == CONFIG["WG_DATA_DIR"]
    assert not data.get("readOnly", False)
    assert MOUNTS["secrets"]["readOnly"] is True


def test_the_alert_rules_config_map_is_deploy_prometheus_alerts_unchanged() -> None:
    rules = one("ConfigMap", "withdrawguard-prometheus-rules")["data"]
    assert rules["alerts.yml"] == ALERTS.read_text(encoding="utf-8"), (
        "deploy/k8s/prometheus-rules.yaml is stale: run python deploy/k8s/render_rules.py"
    )


def test_the_scrape_job_keeps_the_worker_pods_under_the_rules_job_name() -> None:
    config = yaml.safe_load(one("ConfigMap", "withdrawguard-prometheus")["data"]["prometheus.yml"])
    [job] = config["scrape_configs"]
    assert set(re.findall(r'job="([^"]+)"', ALERTS.read_text(encoding="utf-8"))) == {
        job["job_name"]
    }
    assert [Path(f).name for f in config["rule_files"]] == ["alerts.yml"]
    [sd] = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sd["namespaces"]["names"] == [KUSTOMIZATION["namespace"]]
    meta = {
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": POD["metadata"]["labels"][
            "app.kubernetes.io/name"
        ],
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": POD["metadata"]["annotations"][
            "prometheus.io/scrape"
        ],
        "__meta_kubernetes_pod_container_port_name": CONTAINER["ports"][0]["name"],
    }
    keeps = [r for r in job["relabel_configs"] if r["action"] == "keep"]
    assert {r["source_labels"][0] for r in keeps} == set(meta)
    for rule in keeps:
        assert re.fullmatch(rule["regex"], meta[rule["source_labels"][0]]), rule


def _with_secret_files(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` with each path under the Secret's mount moved to a file in `tmp_path` that
    holds the example Secret's value for that key."""
    moved = {}
    for var, value in env.items():
        if value.startswith(SECRETS_DIR + "/"):
            key = Path(value).name
            target = tmp_path / key
            target.write_text(SECRET["stringData"][key], encoding="utf-8")
            value = str(target)
        moved[var] = value
    return moved
