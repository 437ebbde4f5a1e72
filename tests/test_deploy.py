"""deploy/kubernetes/, compose.yaml and the Dockerfile, checked as an operator would apply them.

- Every Kubernetes manifest validates against the API schemas of kubernetes-validate
  (strict: an unknown field is an error). ServiceMonitor and PrometheusRule are CRDs of
  the Prometheus Operator, for which kubernetes-validate has no schema: the rule is
  checked by promtool instead and must equal deploy/prometheus/rules, the monitor is
  checked against the Service it selects.
- The generated parts (ConfigMaps, PrometheusRule, the config checksum) are up to date.
- The ConfigMap's routes.yaml loads with the Deployment's environment and Secret.
- The pod is hardened, probed and stops within its grace period.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config.loader import load_config
from tests.conftest import ROOT
from tests.test_metrics import require

K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"  # the oldest with the preStop sleep action
CRDS = {"ServiceMonitor", "PrometheusRule"}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [doc for _, doc in manifests() if doc["kind"] == kind
               and (name is None or doc["metadata"]["name"] == name)]
    return found


def test_generated_manifests_are_up_to_date():
    stale = [path.name for path, text in _generator().outputs().items()
             if path.read_text(encoding="utf-8") != text]
    assert stale == [], f"run python deploy/kubernetes/generate.py to refresh {stale}"


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("file,doc", [m for m in manifests() if m[1]["kind"] not in CRDS],
                         ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_validates_against_the_kubernetes_schema(file, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_catches_a_misspelt_field():
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_prometheus_rule_is_the_rules_files_and_promtool_accepts_it(tmp_path):
    rule = one("PrometheusRule")
    shipped = []
    for path in sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")):
        shipped += yaml.safe_load(path.read_text())["groups"]
    assert rule["spec"]["groups"] == shipped
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run([require("promtool"), "check", "rules", str(extracted)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_monitor_scrapes_the_service_port_as_the_rules_job():
    monitor, service = one("ServiceMonitor"), one("Service")
    assert set(monitor["spec"]) == {"selector", "endpoints"}
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job",
            "replacement": "chat-gateway"} in endpoint["relabelings"]


def _pod() -> dict[str, Any]:
    return one("Deployment")["spec"]["template"]


def _container() -> dict[str, Any]:
    [container] = _pod()["spec"]["containers"]
    return container


def test_selectors_agree():
    deployment, pod_labels = one("Deployment"), _pod()["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     one("Service")["spec"]["selector"],
                     one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
    target = one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] < one(
        "HorizontalPodAutoscaler")["spec"]["minReplicas"]


def test_pod_is_hardened_and_probed():
    pod, container = _pod()["spec"], _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # config mounts are whole directories: a subPath mount never sees a ConfigMap update
    assert not [m for m in container["volumeMounts"] if "subPath" in m]


def _env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container()["env"] if "value" in e}


def _materialise(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The pod's config files under tmp_path, and its environment pointing at them."""
    mounts = {m["name"]: m["mountPath"] for m in _container()["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod()["spec"]["volumes"]}
    files: dict[str, dict[str, str]] = {}
    for name, mount in mounts.items():
        volume = volumes[name]
        if "configMap" in volume:
            files[mount] = one("ConfigMap", volume["configMap"]["name"])["data"]
        elif "secret" in volume:
            files[mount] = one("Secret", volume["secret"]["secretName"])["stringData"]
    for mount, data in files.items():
        directory = tmp_path / mount.lstrip("/")
        directory.mkdir(parents=True)
        for key, text in data.items():
            (directory / key).write_text(text.replace("/etc/", f"{tmp_path}/etc/"))
    env = {k: v.replace("/etc/", f"{tmp_path}/etc/") for k, v in _env().items()}
    routes = next(m for m in files if "routes.yaml" in files[m])
    return tmp_path / routes.lstrip("/") / "routes.yaml", env


def test_the_configmap_loads_with_the_pods_environment(tmp_path):
    args = _container()["args"]
    assert args[args.index("--config") + 1] == "/etc/chat-gateway/config/routes.yaml"
    routes, env = _materialise(tmp_path)
    config = load_config(routes, env)
    assert set(config.routes) == {"storeden"}  # the one vendor configured
    assert config.host == "0.0.0.0"
    assert "change-me-storeden-exchange" in config.secrets  # read from the Secret's file


def test_the_pod_stops_within_its_grace_period(tmp_path):
    """preStop sleep, then the gateway's drain (pre_stop + grace): all before SIGKILL."""
    routes, env = _materialise(tmp_path)
    server = load_config(routes, env).server
    pre_stop_hook = _container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop_hook + server.pre_stop_seconds + server.grace_seconds
    assert _pod()["spec"]["terminationGracePeriodSeconds"] >= needed + 5, needed


# --- the Dockerfile -------------------------------------------------------------------

def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- compose.yaml ---------------------------------------------------------------------

def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_follows_the_compose_specification():
    import compose_spec

    compose_spec.PyCompose.from_yaml((ROOT / "compose.yaml").read_text())
    with pytest.raises(ValueError, match="restart_policy"):
        compose_spec.PyCompose.from_yaml("services:\n  a:\n    image: x\n    restart_policy: no\n")


def test_compose_brings_up_the_gateway_redis_prometheus_and_grafana():
    compose = _compose()
    services = compose["services"]
    assert {"gateway", "redis", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in compose.get("volumes", {}), (name, source)
    gateway_env = services["gateway"]["environment"]
    assert gateway_env["GATEWAY_HOST"] == "0.0.0.0"
    assert gateway_env["GATEWAY_REDIS_URL"].startswith("redis://redis:")


def test_compose_provisions_the_shipped_dashboard_and_prometheus_scrapes_the_gateway():
    compose = _compose()
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"]
                  if v.startswith("./"))
    provisioning = ROOT / next(src for src, dst in mounts.items()
                               if dst == "/etc/grafana/provisioning")
    providers = yaml.safe_load((provisioning / "dashboards" / "chat-gateway.yaml").read_text())
    [provider] = providers["providers"]
    dashboards_at = provider["options"]["path"]
    host_dir = next(src for src, dst in mounts.items() if dst == dashboards_at)
    assert (ROOT / host_dir / "chat-gateway-dashboard.json").is_file()
    datasources = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert [d["url"] for d in datasources] == ["http://prometheus:9090"]

    prometheus = compose["services"]["prometheus"]
    config_file = next(v.split(":")[0] for v in prometheus["volumes"]
                       if v.split(":")[1] == "/etc/prometheus/prometheus.yml")
    scrape = yaml.safe_load((ROOT / config_file).read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    targets = [t for c in jobs["chat-gateway"]["static_configs"] for t in c["targets"]]
    port = re.search(r"(\d+)$", compose["services"]["gateway"]["environment"]["GATEWAY_PORT"])
    assert targets == [f"gateway:{port.group(1)}"]
