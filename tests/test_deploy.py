"""deploy/: the Kubernetes manifests are valid API objects, fit together, and configure only
real settings.

What a reviewer would check by eye before a go-live: at least two non-root replicas with probes
on the right paths and resource requests, an HPA and a Service that point at them, a ConfigMap
and Secret whose keys the service accepts (an unknown one stops start-up), and production
defaults (sandbox off, authentication on).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.config import _TABLE, PREFIX, ConfigError, Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SETTINGS = {PREFIX + name for name in _TABLE}
Manifest = dict[str, Any]


def load(name: str) -> list[Manifest]:
    with (DEPLOY / name).open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


ALL: dict[str, list[Manifest]] = {p.name: load(p.name) for p in sorted(DEPLOY.glob("*.yaml"))}
KUSTOMIZATION = ALL["kustomization.yaml"][0]
APPLIED = [doc for name in KUSTOMIZATION["resources"] for doc in ALL[name]]
SECRETS = ALL["secret.example.yaml"]


def one(kind: str, docs: list[Manifest] = APPLIED) -> Manifest:
    found = [doc for doc in docs if doc.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def named(kind: str, name: str, docs: list[Manifest]) -> Manifest:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind} {name!r}"
    return found[0]


DEPLOYMENT = one("Deployment")
POD = DEPLOYMENT["spec"]["template"]["spec"]
CONTAINER = POD["containers"][0]
CONFIGMAP = one("ConfigMap")


def test_every_manifest_parses_as_kubernetes_objects() -> None:
    for name, docs in ALL.items():
        assert docs, f"{name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind"} <= set(doc), f"{name}: {doc}"
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], name


# The oldest and newest Kubernetes releases whose API schemas the pinned kubernetes-validate
# carries: hospital clusters run releases well behind the newest.
@pytest.mark.parametrize("release", ["1.25.0", "1.37.0"])
def test_every_manifest_is_valid_against_the_kubernetes_api_schema(release: str) -> None:
    # strict, as `kubectl apply` is by default: a misspelt field (say `readinesProbe`) is refused
    # at go-live rather than silently ignored, which a parse alone would never notice
    for doc in APPLIED + SECRETS:
        try:
            kubernetes_validate.validate(doc, release, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} on {release}: {exc.message}")


def test_kustomization_lists_every_manifest_but_never_the_secret_template() -> None:
    listed = set(KUSTOMIZATION["resources"])
    assert listed <= set(ALL), listed - set(ALL)
    assert "secret.example.yaml" not in listed
    assert listed == set(ALL) - {"kustomization.yaml", "secret.example.yaml"}


def test_deployment_leaves_the_replica_count_to_the_autoscaler_and_runs_as_non_root() -> None:
    # a `replicas` beside the HPA resets the scale on every apply (issue 22); the HPA keeps >= 2
    assert "replicas" not in DEPLOYMENT["spec"]
    assert one("HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    for context in (POD.get("securityContext", {}), CONTAINER.get("securityContext", {})):
        assert context.get("runAsUser", 10001) != 0
    assert POD["securityContext"]["runAsNonRoot"] is True
    container_context = CONTAINER["securityContext"]
    assert container_context["allowPrivilegeEscalation"] is False
    assert container_context["readOnlyRootFilesystem"] is True


def _http_get(probe: str) -> dict[str, Any]:
    assert probe in CONTAINER, f"no {probe}"
    return CONTAINER[probe]["httpGet"]


def test_probes_use_readyz_for_readiness_and_healthz_for_liveness() -> None:
    ports = {p.get("name") for p in CONTAINER["ports"]} | {p["containerPort"]
                                                          for p in CONTAINER["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = _http_get(probe)
        assert get["path"] == path, probe
        assert get["port"] in ports, probe


def test_resources_are_requested() -> None:
    requests = CONTAINER["resources"]["requests"]
    assert requests.get("cpu") and requests.get("memory")


def test_hpa_targets_the_deployment_and_keeps_two_replicas() -> None:
    hpa = one("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert target["apiVersion"] == DEPLOYMENT["apiVersion"]
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def _selects_pods(selector: dict[str, str]) -> bool:
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_service_and_disruption_budget_select_the_deployments_pods() -> None:
    service = one("Service")
    assert _selects_pods(service["spec"]["selector"])
    container_ports = {p.get("name") for p in CONTAINER["ports"]} | {
        p["containerPort"] for p in CONTAINER["ports"]}
    assert all(p["targetPort"] in container_ports for p in service["spec"]["ports"])
    assert _selects_pods(one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert _selects_pods(DEPLOYMENT["spec"]["selector"]["matchLabels"])


def test_configmap_keys_are_real_settings_with_valid_production_values() -> None:
    data = CONFIGMAP["data"]
    assert set(data) <= SETTINGS, set(data) - SETTINGS
    settings = Settings.from_env(data)  # raises ConfigError naming a bad value
    assert settings.sandbox is False, "the sandbox mints tokens for anyone: off in a cluster"
    assert settings.auth is True
    assert settings.public_url and settings.public_url.startswith("https://")
    assert settings.clients_file is not None


def test_secret_keys_are_real_settings_and_the_database_url_is_accepted() -> None:
    secret = named("Secret", "leukemia-cds", SECRETS)
    data = secret["stringData"]
    assert set(data) <= SETTINGS, set(data) - SETTINGS
    assert {PREFIX + "DATABASE_URL", PREFIX + "PSEUDONYM_KEY"} <= set(data)
    url = Settings.from_env({PREFIX + "DATABASE_URL": data[PREFIX + "DATABASE_URL"]})
    assert url.database_url and url.database_url.startswith("postgresql+psycopg://")
    with pytest.raises(ConfigError):  # the placeholder must never start a service
        Settings.from_env({PREFIX + "PSEUDONYM_KEY": data[PREFIX + "PSEUDONYM_KEY"]})


def test_deployment_environment_names_real_settings_from_the_secret() -> None:
    secret_keys = set(named("Secret", "leukemia-cds", SECRETS)["stringData"])
    for var in CONTAINER.get("env", []):
        assert var["name"] in SETTINGS, var["name"]
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "leukemia-cds" and ref["key"] in secret_keys, var
    assert {var["name"] for var in CONTAINER["env"]} == secret_keys
    assert [src["configMapRef"]["name"] for src in CONTAINER["envFrom"]] == [
        CONFIGMAP["metadata"]["name"]]


def test_the_clients_file_setting_points_at_the_mounted_clients_secret() -> None:
    path = PurePosixPath(CONFIGMAP["data"][PREFIX + "CLIENTS"])
    mounts = {m["name"]: m for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["volumes"]}
    holders = [name for name, m in mounts.items() if PurePosixPath(m["mountPath"]) == path.parent]
    assert len(holders) == 1, f"no volume mounted at {path.parent}"
    secret = volumes[holders[0]]["secret"]
    items = {item["path"]: item["key"] for item in secret.get("items", [])}
    key = items.get(path.name, path.name)
    clients = named("Secret", secret["secretName"], SECRETS)
    assert key in clients["stringData"]
    assert mounts[holders[0]].get("readOnly") is True


def test_writable_paths_are_volumes_since_the_root_filesystem_is_read_only() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(rf"{PREFIX}DATA_DIR=(\S+)", dockerfile)
    assert match, "the image no longer sets LEUKEMIA_CDS_DATA_DIR"
    data_dir = CONFIGMAP["data"].get(PREFIX + "DATA_DIR", match.group(1))
    mounted = {m["mountPath"] for m in CONTAINER["volumeMounts"]}
    assert data_dir in mounted, f"{data_dir} (LEUKEMIA_CDS_DATA_DIR) must be a writable volume"
    assert "/tmp" in mounted


def _ingress_routes(path: str) -> bool:
    for rule in one("Ingress")["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            prefix = route["path"].rstrip("/")
            if route["pathType"] == "Exact" and path == route["path"]:
                return True
            if route["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


def test_the_ingress_routes_the_public_paths_and_nothing_that_needs_no_token() -> None:
    """Hook calls, feedback and the rule pages cards link to reach the service; /metrics,
    /healthz, /readyz and the sandbox never leave the cluster."""
    for public in ("/cds-services", "/cds-services/leukemia-cds-patient-view",
                   "/cds-services/leukemia-cds-patient-view/feedback", "/rules",
                   "/rules/ALL-INO-RR", "/openapi.json"):
        assert _ingress_routes(public), public
    for internal in ("/metrics", "/healthz", "/readyz", "/", "/sandbox/api/token",
                     "/rulesx", "/openapi.json/x"):
        assert not _ingress_routes(internal), internal
    ingress = one("Ingress")
    host = PurePosixPath(CONFIGMAP["data"][PREFIX + "PUBLIC_URL"].split("://", 1)[1]).parts[0]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    service = one("Service")
    for rule in ingress["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            backend = route["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_network_policy_admits_only_the_ingress_controller_and_monitoring() -> None:
    policy = one("NetworkPolicy")
    assert _selects_pods(policy["spec"]["podSelector"]["matchLabels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = policy["spec"]["ingress"]
    assert rules, "an empty list would refuse everything, the probes' replies aside"
    names = set()
    for rule in rules:
        # a rule without `from` admits every source: that is no policy at all
        assert rule.get("from"), rule
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        for source in rule["from"]:
            assert set(source) == {"namespaceSelector"}, source
            names.add(source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert names == {"ingress-nginx", "monitoring"}


def test_the_nightly_trials_sync_runs_the_real_command_like_the_deployment() -> None:
    """Issue 23: the CronJob runs `leukemia-cds trials sync` with the image, settings and
    database of the Deployment (the registry lives in the shared database), unprivileged,
    never two at once."""
    from service.cli import build_parser

    job = one("CronJob")
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = build_parser().parse_args(container["command"][1:])
    assert container["command"][0] == "leukemia-cds"
    assert (args.command, args.action) == ("trials", "sync")
    assert container["image"] == CONTAINER["image"]
    assert container["envFrom"] == CONTAINER["envFrom"]
    assert [v for v in container["env"] if v["name"] == PREFIX + "DATABASE_URL"] == [
        v for v in CONTAINER["env"] if v["name"] == PREFIX + "DATABASE_URL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/lib/leukemia-cds", "/tmp"} <= mounted
    assert pod["restartPolicy"] == "Never"
