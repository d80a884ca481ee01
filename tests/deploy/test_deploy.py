"""Deployment files: Kubernetes manifests, docker compose, Prometheus and the CI workflow.

Fast and offline. The manifests are validated against the Kubernetes OpenAPI schemas bundled
with ``kubernetes-validate`` (strict: unknown fields are errors), then checked for meaning:
autoscaling, probes, where configuration comes from, external services and the BentoML
arguments that split the API and the model service into separate pods. The compose file is
checked by ``docker compose config`` where Docker Compose works, and otherwise by a subset of
the Compose specification applied with pyyaml (the test id says which one ran); its wiring is
checked structurally in both cases.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
PROMETHEUS_FILE = DEPLOY / "prometheus.yml"
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "ci.yml"

# An older and a recent Kubernetes release, both bundled by kubernetes-validate.
K8S_VERSIONS = ("1.29", "1.33")
SECRET_TEMPLATE = "secret.yaml"
API_SERVICE, MODEL_SERVICE = "firstpitch", "firstpitch-models"


# ----------------------------------------------------------------------------- helpers
def _settings_env_names() -> set[str]:
    from firstpitch.settings import Settings

    return {f"FIRSTPITCH_{name.upper()}" for name in Settings.model_fields}


def _bento_service_names() -> set[str]:
    """The names given to @bentoml.service in service.py and runners/model_service.py."""
    sources = (ROOT / "service.py", ROOT / "runners" / "model_service.py")
    pattern = re.compile(r"@bentoml\.service\(\s*name=\"([^\"]+)\"")
    return {m for path in sources for m in pattern.findall(path.read_text())}


def _k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


DOCS = _k8s_documents()


def _find(kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = _find(kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _deployment_for(service_name: str) -> dict[str, Any]:
    """The Deployment whose container serves ``service_name`` (its --service-name arg)."""
    matches = [
        d for d in _find("Deployment") if _arg(_container(d), "--service-name") == service_name
    ]
    assert len(matches) == 1, f"expected one Deployment serving {service_name!r}"
    return matches[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    return dict(containers[0])


def _arg(container: dict[str, Any], flag: str) -> str | None:
    args = list(container.get("args", []))
    return str(args[args.index(flag) + 1]) if flag in args else None


def _config_map() -> dict[str, str]:
    (cm,) = _find("ConfigMap")
    return dict(cm["data"])


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def k8s_errors(doc: dict[str, Any], version: str) -> list[str]:
    """Strict schema errors of one resource (an unknown kind is an error too)."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "<root>"
        return [f"{where}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [str(exc.message)]
    return []


def _quantity(value: str | int | float) -> float:
    text = str(value)
    units = {
        "m": 1e-3,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
    }
    for suffix, factor in units.items():
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text)


# -------------------------------------------------------------- Kubernetes: the schemas
@pytest.mark.parametrize("version", K8S_VERSIONS, ids=lambda v: f"k8s-{v}")
@pytest.mark.parametrize(
    "doc",
    [d for _, d in DOCS],
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in DOCS],
)
def test_manifest_validates_strictly(doc: dict[str, Any], version: str) -> None:
    assert k8s_errors(doc, version) == []


def test_manifests_cover_the_expected_resources() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS}
    for expected in [("Namespace", "firstpitch"), ("ConfigMap", "firstpitch-config"),
                     ("Secret", "firstpitch-secrets"), ("Deployment", "firstpitch-api"),
                     ("Deployment", "firstpitch-models"), ("Service", "firstpitch-api"),
                     ("Service", "firstpitch-models"), ("Service", "postgres"),
                     ("Service", "redis"), ("Service", "mlflow")]:  # fmt: skip
        assert expected in kinds
    namespaced = [d for _, d in DOCS if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"firstpitch"}


def test_the_validator_rejects_broken_manifests() -> None:
    """The schema check can fail: typical mistakes in a copy of the API Deployment are caught."""
    api = _one("Deployment", "firstpitch-api")
    typo = copy.deepcopy(api)
    container = typo["spec"]["template"]["spec"]["containers"][0]
    container["readinessProb"] = container.pop("readinessProbe")
    wrong_type = copy.deepcopy(api)
    wrong_type["spec"]["replicas"] = "two"
    no_selector = copy.deepcopy(api)
    del no_selector["spec"]["selector"]
    hpa_v1_fields = copy.deepcopy(_one("HorizontalPodAutoscaler", "firstpitch-api"))
    hpa_v1_fields["spec"]["targetCPUUtilizationPercentage"] = 70
    unknown_kind = {"apiVersion": "v1", "kind": "Servce", "metadata": {"name": "x"}}
    for broken in (typo, wrong_type, no_selector, hpa_v1_fields, unknown_kind):
        assert k8s_errors(broken, K8S_VERSIONS[-1]), broken["kind"]


def test_kustomization_applies_every_manifest_except_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {SECRET_TEMPLATE}
    assert kustomization["namespace"] == "firstpitch"
    images = {i["name"] for i in kustomization["images"]}
    used = {_container(d)["image"].split(":")[0] for d in _find("Deployment")}
    assert used <= images, "kustomize `images` must be able to set every Deployment's image"


# ----------------------------------------------------------- Kubernetes: the semantics
def test_each_deployment_has_its_own_cpu_autoscaler() -> None:
    deployments = _find("Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {"firstpitch-api", "firstpitch-models"}
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        hpas = [h for h in _find("HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1",
                                                  "kind": "Deployment", "name": name}]  # fmt: skip
        assert len(hpas) == 1, f"{name}: expected one HPA targeting it"
        hpa = hpas[0]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        cpu = [m for m in hpa["spec"]["metrics"]
               if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]  # fmt: skip
        assert cpu and cpu[0]["resource"]["target"]["type"] == "Utilization"
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"


@pytest.mark.parametrize(
    ("service", "ready", "live"),
    [(API_SERVICE, "/health/ready", "/health/live"), (MODEL_SERVICE, "/readyz", "/livez")],
)
def test_probes(service: str, ready: str, live: str) -> None:
    container = _container(_deployment_for(service))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == ready
    assert container["livenessProbe"]["httpGet"]["path"] == live
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == 3000, f"{probe} must hit the server's port"
    assert _arg(container, "--port") == "3000"


def test_every_container_has_requests_and_limits() -> None:
    for deployment in _find("Deployment"):
        resources = _container(deployment)["resources"]
        for resource in ("cpu", "memory"):
            request = _quantity(resources["requests"][resource])
            limit = _quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{deployment['metadata']['name']} {resource}"


def test_configuration_comes_from_the_configmap_and_the_secret() -> None:
    config = _config_map()
    (secret,) = _find("Secret")
    allowed = _settings_env_names() | {"FIRSTPITCH_MODELS_URL", "BENTOML_DO_NOT_TRACK"}
    assert set(config) <= allowed, "unknown keys (typos?) in the ConfigMap"
    assert not [k for k in config if re.search(r"DSN|PASSWORD|TOKEN|REDIS_URL", k)]
    assert set(secret["stringData"]) == {"FIRSTPITCH_POSTGRES_DSN", "FIRSTPITCH_REDIS_URL"}
    for deployment in _find("Deployment"):
        container = _container(deployment)
        refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
        assert refs == ["firstpitch-config"]
        for env in container.get("env", []):
            assert "value" not in env, f"{env['name']}: set it in the ConfigMap or the Secret"
    api_env = {e["name"]: e["valueFrom"] for e in _container(_deployment_for(API_SERVICE))["env"]}
    for key in ("FIRSTPITCH_POSTGRES_DSN", "FIRSTPITCH_REDIS_URL"):
        ref = api_env[key]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    models_env = _container(_deployment_for(MODEL_SERVICE)).get("env", [])
    assert not models_env, "the model service needs no database credentials"


def test_postgres_redis_and_mlflow_are_external_names_the_dsns_use() -> None:
    (secret,) = _find("Secret")
    urls = {
        "postgres": secret["stringData"]["FIRSTPITCH_POSTGRES_DSN"],
        "redis": secret["stringData"]["FIRSTPITCH_REDIS_URL"],
        "mlflow": _config_map()["FIRSTPITCH_MLFLOW_TRACKING_URI"],
    }
    for name, url in urls.items():
        service = _one("Service", name)
        assert service["spec"]["type"] == "ExternalName"
        assert re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", service["spec"]["externalName"])
        assert "selector" not in service["spec"]
        parts = urlsplit(url)
        assert parts.hostname == name, f"{url} should use the {name} ExternalName Service"
        assert parts.port in {p["port"] for p in service["spec"]["ports"]}


def test_services_select_their_deployments() -> None:
    for deployment in _find("Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        service = _one("Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        others = [d for d in _find("Deployment") if d is not deployment]
        for other in others:
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert not service["spec"]["selector"].items() <= other_labels.items()
        port_names = {p["name"] for p in _container(deployment)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_api_and_models_run_as_separate_bentoml_services() -> None:
    """The API pod serves only "firstpitch" and reaches "firstpitch-models" through its Service."""
    assert _bento_service_names() == {API_SERVICE, MODEL_SERVICE}
    api, models = (
        _container(_deployment_for(API_SERVICE)),
        _container(_deployment_for(MODEL_SERVICE)),
    )
    assert api["args"][0] == models["args"][0] == "start-http-server"
    assert _arg(models, "--depends") is None
    depends = _expand(str(_arg(api, "--depends")), _config_map())
    name, _, url = depends.partition("=")
    assert name == MODEL_SERVICE
    service = _one("Service", "firstpitch-models")
    assert urlsplit(url).hostname == service["metadata"]["name"]
    assert urlsplit(url).port == service["spec"]["ports"][0]["port"]
    assert urlsplit(url).scheme == "http"


def test_container_args_parse_with_the_installed_bentoml() -> None:
    """The args are accepted by BentoML 1.4's start-http-server exactly as the image runs it."""
    from bentoml_cli._internal.start import start_command

    command = start_command.commands["start-http-server"]
    for service in (API_SERVICE, MODEL_SERVICE):
        args = [
            _expand(str(a), _config_map()) for a in _container(_deployment_for(service))["args"]
        ]
        ctx = command.make_context("start-http-server", [*args[1:], "/home/bentoml/bento"])
        assert ctx.params["service_name"] == service
        assert ctx.params["port"] == 3000 and ctx.params["host"] == "0.0.0.0"
        expected = ("firstpitch-models=http://firstpitch-models:3000",)
        assert ctx.params["depends"] == (expected if service == API_SERVICE else ())


def test_the_image_entrypoint_turns_the_args_into_the_standalone_server(tmp_path: Path) -> None:
    """Run BentoML's real container entrypoint with `exec` stubbed to print the command."""
    spec = importlib.util.find_spec("bentoml")
    assert spec is not None and spec.origin is not None
    entrypoint = (Path(spec.origin).parent / "_internal" / "container" / "frontend"
                  / "dockerfile" / "entrypoint.sh")  # fmt: skip
    script = tmp_path / "run.sh"
    script.write_text('source "$EP"\nexec() { printf "%s\\n" "$@"; }\n_main "$@"\n')
    args = [
        _expand(str(a), _config_map()) for a in _container(_deployment_for(API_SERVICE))["args"]
    ]
    env = {"PATH": "/usr/bin:/bin", "BENTO_PATH": "/home/bentoml/bento", "EP": str(entrypoint)}
    run = subprocess.run(["bash", str(script), *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    argv = run.stdout.splitlines()
    assert argv[:4] == ["python", "-m", "bentoml_cli._internal.start", "start-http-server"]
    assert argv[4:] == [*args[1:], "/home/bentoml/bento"]


def test_pods_are_safe_to_run() -> None:
    for deployment in _find("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        # Service links would inject FIRSTPITCH_API_PORT=tcp://... into our settings prefix.
        assert pod["enableServiceLinks"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = _container(deployment)
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        state_dir = _config_map()["FIRSTPITCH_STATE_DIR"]
        assert state_dir in {m["mountPath"] for m in container["volumeMounts"]}


def test_only_the_api_may_call_the_model_service() -> None:
    (policy,) = _find("NetworkPolicy")
    models = _deployment_for(MODEL_SERVICE)["spec"]["template"]["metadata"]["labels"]
    api = _deployment_for(API_SERVICE)["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= models.items()
    peers = [p["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"]
             for p in rule["from"] if "podSelector" in p]  # fmt: skip
    assert peers and all(p.items() <= api.items() for p in peers)


# --------------------------------------------------------------- compose: interpolation
_VAR = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR:+alt}, $$."""

    def sub(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name = m["name"] or m["bare"]
        value, op, arg = env.get(name), m["op"], m["arg"] or ""
        if op in (":-", "-"):
            return arg if value is None or (op == ":-" and not value) else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and not value):
                raise ValueError(f"required variable {name}: {arg}")
            return value
        if op in (":+", "+"):
            return arg if value else ""
        return value or ""

    out = _VAR.sub(sub, text)
    leftover = re.sub(r"\$\$", "", _VAR.sub("", text))
    assert "$" not in leftover, f"malformed interpolation in {text!r}"
    return out


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


def test_interpolation_helper() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}/$$HOME/$SET", env) == (
        "x/d/d//$HOME/x"
    )
    with pytest.raises(ValueError):
        interpolate("${UNSET:?needed}", env)
    with pytest.raises(AssertionError):
        interpolate("${BROKEN", env)


RAW_COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
# Resolved with an empty environment: what `docker compose up` uses with nothing exported.
COMPOSE: dict[str, Any] = _interpolate_tree(RAW_COMPOSE, {})
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (item.partition("=") for item in env)}
    return {k: None if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def _ports(service: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(host ip, published port, container port) of each published port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            yield port.get("host_ip", ""), str(port.get("published", "")), int(port["target"])
            continue
        parts = str(port).split("/")[0].split(":")
        ip = parts[0] if len(parts) == 3 else ""
        yield ip, parts[-2] if len(parts) > 1 else "", int(parts[-1])


def _is_one_shot(name: str) -> bool:
    """A job others wait for with service_completed_successfully, or a profile-only task."""
    waited = any(_depends_on(s).get(name) == "service_completed_successfully"
                 for s in SERVICES.values())  # fmt: skip
    return waited or SERVICES[name].get("restart") == "no"


def _command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


# ------------------------------------------------------------ compose: validity (one of)
def _docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


COMPOSE_CHECK = "docker-compose-config" if _docker_compose_works() else "pyyaml-compose-spec-subset"

TOP_LEVEL_KEYS = {"version", "name", "services", "networks", "volumes", "secrets", "configs",
                  "include", "models"}  # fmt: skip
SERVICE_KEYS = {
    "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns",
    "dns_opt", "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose",
    "extends", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck",
    "hostname", "image", "init", "ipc", "isolation", "labels", "links", "logging",
    "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "pull_policy",
    "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size",
    "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs",
    "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval",
                    "disable"}  # fmt: skip
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
PORT = re.compile(r"((\d{1,3}(\.\d{1,3}){3}):)?((\d+(-\d+)?):)?\d+(-\d+)?(/(tcp|udp))?")


def _resolved(value: Any, where: str, errors: list[str]) -> Any:
    try:
        return _interpolate_tree(value, {})
    except (AssertionError, ValueError) as exc:
        errors.append(f"{where}: interpolation: {exc}")
        return None


def _service_spec_errors(name: str, raw: dict[str, Any]) -> list[str]:
    errors = [f"{name}: unknown key {k!r}" for k in raw if k not in SERVICE_KEYS]
    svc = {k: _resolved(v, f"{name}.{k}", errors) for k, v in raw.items()}
    if not ("image" in svc or "build" in svc):
        errors.append(f"{name}: neither image nor build")
    hc = svc.get("healthcheck") or {}
    errors += [f"{name}: healthcheck key {k!r}" for k in hc if k not in HEALTHCHECK_KEYS]
    errors += [f"{name}: duration {hc[k]!r}" for k in ("interval", "timeout", "start_period")
               if k in hc and not DURATION.fullmatch(str(hc[k]))]  # fmt: skip
    if isinstance(svc.get("depends_on"), dict):
        errors += [f"{name}: depends_on {d!r} condition" for d, spec in svc["depends_on"].items()
                   if spec.get("condition", "service_started") not in CONDITIONS]  # fmt: skip
    errors += [f"{name}: port {p!r}" for p in svc.get("ports") or []
               if not isinstance(p, dict) and not PORT.fullmatch(str(p))]  # fmt: skip
    restart = str(svc.get("restart", "no"))
    if not re.fullmatch(r"no|always|unless-stopped|on-failure(:\d+)?", restart):
        errors.append(f"{name}: restart {restart!r}")
    if not isinstance(svc.get("environment", {}), dict | list):
        errors.append(f"{name}: environment must be a mapping or a list")
    return errors


def compose_spec_subset_errors(raw: dict[str, Any]) -> list[str]:
    """The parts of the Compose specification a typo or a wrong shape most often breaks."""
    errors = [
        f"top-level key {k!r}" for k in raw if k not in TOP_LEVEL_KEYS and not k.startswith("x-")
    ]
    for name, service in (raw.get("services") or {}).items():
        errors += _service_spec_errors(name, service)
    return errors


def test_the_compose_subset_check_catches_mistakes() -> None:
    broken = copy.deepcopy(RAW_COMPOSE)
    svc = broken["services"]["firstpitch"]
    svc["depend_on"] = svc.pop("depends_on")
    svc["healthcheck"] = {**svc["healthcheck"], "interval": "10 seconds"}
    svc["ports"] = ["127.0.0.1:${FIRSTPITCH_PORT:-3000:3000"]
    broken["services"]["redis"]["restart"] = "sometimes"
    broken["service"] = {}
    errors = compose_spec_subset_errors(broken)
    for expected in ("'depend_on'", "'service'", "'10 seconds'", "interpolation", "'sometimes'"):
        assert any(expected in e for e in errors), expected


@pytest.mark.parametrize("check", [COMPOSE_CHECK])
def test_compose_file_is_valid(check: str) -> None:
    if check == "docker-compose-config":
        profiles = sorted(
            {p for s in RAW_COMPOSE["services"].values() for p in s.get("profiles", [])}
        )
        cmd = ["docker", "compose", "-f", str(COMPOSE_FILE)]
        cmd += [arg for p in profiles for arg in ("--profile", p)]
        result = subprocess.run(
            [*cmd, "config", "--quiet"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    else:
        assert compose_spec_subset_errors(RAW_COMPOSE) == []


# ------------------------------------------------------------ compose: wiring (always)
def test_compose_structure_services_and_images() -> None:
    assert {"postgres", "redis", "mlflow", "firstpitch", "prometheus"} <= set(SERVICES)
    assert (
        RAW_COMPOSE["services"]["firstpitch"]["image"] == "${FIRSTPITCH_IMAGE:-firstpitch:latest}"
    )
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert "mlflow" in SERVICES["mlflow"]["image"]
    assert "prometheus" in SERVICES["prometheus"]["image"]
    assert "command" not in SERVICES["firstpitch"], "the image's entrypoint runs bentoml serve"


def test_compose_structure_environment_wiring() -> None:
    pg_env = _environment(SERVICES["postgres"])
    mlflow_args = _command_args(SERVICES["mlflow"])
    mlflow_port = int(mlflow_args[mlflow_args.index("--port") + 1])
    allowed_hosts = mlflow_args[mlflow_args.index("--allowed-hosts") + 1].split(",")
    known = _settings_env_names()
    api_like = [n for n, s in SERVICES.items() if "FIRSTPITCH_REDIS_URL" in _environment(s)]
    assert {"firstpitch", "firstpitch-api"} <= set(api_like)
    for name in api_like:
        env = _environment(SERVICES[name])
        dsn = urlsplit(str(env["FIRSTPITCH_POSTGRES_DSN"]))
        assert (dsn.scheme, dsn.hostname, dsn.port) == ("postgresql", "postgres", 5432)
        assert (dsn.username, dsn.password, dsn.path) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            f"/{pg_env['POSTGRES_DB']}",
        )
        redis = urlsplit(str(env["FIRSTPITCH_REDIS_URL"]))
        assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
        mlflow = urlsplit(str(env["FIRSTPITCH_MLFLOW_TRACKING_URI"]))
        assert (mlflow.hostname, mlflow.port) == ("mlflow", mlflow_port)
        assert any(
            fnmatch.fnmatch(str(mlflow.netloc), h) or mlflow.netloc == h for h in allowed_hosts
        )
    for name, service in SERVICES.items():
        unknown = {k for k in _environment(service) if k.startswith("FIRSTPITCH_")} - known
        assert not unknown, f"{name}: not firstpitch settings (typos?): {unknown}"


def test_compose_structure_no_hard_coded_secrets() -> None:
    for name, service in RAW_COMPOSE["services"].items():
        for key, value in _environment(service).items():
            if re.search(r"PASSWORD|DSN|SECRET|TOKEN", key) and value is not None:
                assert "${" in value, f"{name}.{key} must come from ${{VAR:-local default}}"


def test_compose_structure_healthchecks() -> None:
    for name, service in SERVICES.items():
        if _is_one_shot(name):
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: needs a healthcheck"
    for name in ("firstpitch", "firstpitch-api"):
        assert "http://localhost:3000/health/ready" in SERVICES[name]["healthcheck"]["test"]
    assert "http://localhost:3000/readyz" in SERVICES["firstpitch-models"]["healthcheck"]["test"]


def test_compose_structure_depends_on() -> None:
    for name, service in SERVICES.items():
        for dep, condition in _depends_on(service).items():
            assert dep in SERVICES and dep != name, f"{name} -> {dep}"
            assert condition in CONDITIONS
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{dep} has no healthcheck"
            if not service.get("profiles"):
                assert not SERVICES[dep].get("profiles"), f"{name} needs profile-only {dep}"
    for name in ("firstpitch", "firstpitch-api"):
        deps = _depends_on(SERVICES[name])
        assert {deps[d] for d in ("postgres", "redis", "mlflow")} == {"service_healthy"}
    assert _depends_on(SERVICES["firstpitch-api"])["firstpitch-models"] == "service_healthy"
    # No cycles.
    state: dict[str, str] = {}

    def visit(node: str) -> None:
        assert state.get(node) != "open", f"depends_on cycle through {node}"
        if state.get(node) == "done":
            return
        state[node] = "open"
        for dep in _depends_on(SERVICES[node]):
            visit(dep)
        state[node] = "done"

    for name in SERVICES:
        visit(name)


def test_compose_structure_ports_and_volumes() -> None:
    published = [(n, *p) for n, s in SERVICES.items() for p in _ports(s)]
    host_ports = [(ip, port) for _, ip, port, _ in published]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same port"
    assert all(ip == "127.0.0.1" for ip, _ in host_ports), "local defaults: bind to localhost"
    assert ("firstpitch", "127.0.0.1", "3000", 3000) in published
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith((".", "/")):
                if name == "prometheus":
                    assert (DEPLOY / source).is_file(), source
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
            if name == "postgres":
                # PostgreSQL 18+ images keep PGDATA in a versioned folder below this one.
                assert target == "/var/lib/postgresql"


def test_compose_structure_prometheus_scrapes_the_service_metrics() -> None:
    prometheus = SERVICES["prometheus"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in prometheus["volumes"]}
    config_path = next(a.split("=", 1)[1] for a in _command_args(prometheus)
                       if a.startswith("--config.file="))  # fmt: skip
    assert (DEPLOY / mounts[config_path]).resolve() == PROMETHEUS_FILE
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    container_ports = {n: {p for *_, p in _ports(s)} | {3000} for n, s in SERVICES.items()}
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.partition(":")
                assert host in SERVICES, f"{job['job_name']}: {host} is not a compose service"
                assert int(port) in container_ports[host]
                targets[target] = job.get("metrics_path", "/metrics")
    assert targets.get("firstpitch:3000") == "/metrics"


def test_compose_split_profile_runs_the_kubernetes_commands() -> None:
    """The "split" profile runs the same start-http-server args as the Kubernetes pods."""
    models_url = "http://firstpitch-models:3000"
    for compose_name, service in (
        ("firstpitch-api", API_SERVICE),
        ("firstpitch-models", MODEL_SERVICE),
    ):
        k8s_args = [_expand(str(a), {"FIRSTPITCH_MODELS_URL": models_url})
                    for a in _container(_deployment_for(service))["args"]]  # fmt: skip
        assert _command_args(SERVICES[compose_name]) == k8s_args


# -------------------------------------------------------------------- the CI workflow
WORKFLOW: dict[Any, Any] = yaml.safe_load(WORKFLOW_FILE.read_text())


def _steps(job: str) -> list[dict[str, Any]]:
    return list(WORKFLOW["jobs"][job]["steps"])


def _step_using(job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]


def _runs(job: str) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(job))


def test_workflow_triggers_and_jobs() -> None:
    triggers = WORKFLOW.get("on", WORKFLOW.get(True))  # pyyaml reads a bare `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert {"test", "image"} <= set(WORKFLOW["jobs"])
    assert WORKFLOW["jobs"]["image"]["needs"] == "test"
    for job in WORKFLOW["jobs"]:
        for step in _steps(job):
            assert "uses" in step or "run" in step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v?\d[\w.]*", step["uses"]), step["uses"]


@pytest.mark.parametrize("job", ["test", "image"])
def test_workflow_provides_the_data_and_python(job: str) -> None:
    checkouts = _step_using(job, "actions/checkout")
    data = [s for s in checkouts if "repository" in s.get("with", {})]
    assert len(data) == 1, "the raw data comes from a separate checkout"
    data_path = data[0]["with"]["path"]
    for var in ("FIRSTPITCH_DATA_DIR", "FIRSTPITCH_TEST_DATA_DIR"):
        assert WORKFLOW["env"][var] == f"${{{{ github.workspace }}}}/{data_path}"
    (python,) = _step_using(job, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    project = [s for s in checkouts if "repository" not in s.get("with", {})]
    assert (
        project
        and project[0]["with"]["path"]
        == WORKFLOW["jobs"][job]["defaults"]["run"]["working-directory"]
    )


def test_workflow_tests_then_builds_and_pushes_on_main_only() -> None:
    assert "./run.sh test" in _runs("test")
    image_runs = _runs("image")
    assert "bentoml build" in image_runs and "--do-not-track" in image_runs
    assert "bentoml containerize firstpitch:latest" in image_runs
    assert "GITHUB_SHA" in image_runs or "github.sha" in image_runs
    (login,) = _step_using("image", "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"
    assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    assert WORKFLOW["jobs"]["image"]["permissions"]["packages"] == "write"
    main_only = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    pushes = [s for s in _steps("image") if "docker push" in str(s.get("run", ""))]
    assert pushes and all(s.get("if") == main_only for s in [*pushes, login])
    unguarded = [s for s in _steps("image") if "push" in str(s.get("run", "")) and "if" not in s]
    assert not unguarded
