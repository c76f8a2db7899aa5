"""The deployment files under deploy/: each is checked by the tool that will read it (systemd-analyze,
promtool) where there is one, and its fields that make pyvitals work (or not) are pinned: the command,
the capabilities, the probes. Nothing here runs pyvitals: tools/vmtest/unit-check runs the systemd
unit for real, in a VM whose PID 1 is systemd."""
import configparser
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, require_tool

DEPLOY = os.path.join(ROOT, "deploy")
UNIT = os.path.join(DEPLOY, "pyvitals.service")
INI = os.path.join(DEPLOY, "pyvitals.ini")
PROM = os.path.join(DEPLOY, "prometheus.yml")
ALERTS = os.path.join(DEPLOY, "pyvitals-alerts.yml")
DAEMONSET = os.path.join(DEPLOY, "kubernetes", "daemonset.yaml")

BINARY = "/usr/local/bin/pyvitals"
CONFIG = "/etc/pyvitals/pyvitals.ini"
# Needed to start (and why): see README "Deploying". serve keeps BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH.
CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_RESOURCE"}

# The keys pyvitals serve reads, with their defaults (the lead's config loader uses these exact names).
DEFAULTS = {
    "serve": {"listen": "127.0.0.1:9464", "auth_token_file": ""},
    "health": {
        "window_s": "60", "min_requests": "10",
        "http_5xx_ratio_degraded": "0.01", "http_5xx_ratio_critical": "0.05",
        "http_p99_latency_s_degraded": "1", "http_p99_latency_s_critical": "5",
        "db_calls_per_request_degraded": "20", "db_calls_per_request_critical": "100",
        "gil_wait_ratio_degraded": "0.25", "gil_wait_ratio_critical": "1",
        "gc_pause_p99_ms_degraded": "50", "gc_pause_p99_ms_critical": "200",
        "n_plus_one": "degraded", "lost_events": "degraded",
    },
}


# --- systemd --------------------------------------------------------------------------------------------

def unit_fields(text):
    """{section: {key: [values...]}} of a unit file (keys may repeat in systemd's syntax)."""
    fields, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = fields.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())
    return fields


def verifiable_copy(tmp_path):
    """The unit with its binary path pointed at a stub: systemd-analyze verify refuses an ExecStart whose
    binary is missing, and no test may need pyvitals installed. Only that path differs."""
    stub = tmp_path / "bin" / "pyvitals"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = open(UNIT).read()
    assert text.count(BINARY) >= 1
    unit = tmp_path / "pyvitals.service"
    unit.write_text(text.replace(BINARY, str(stub)))
    return unit


def test_systemd_unit_parses_cleanly(tmp_path):
    require_tool("systemd-analyze", "systemd")
    unit = verifiable_copy(tmp_path)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    # A bad key or value is only a warning (exit 0): any line about our file fails the test. Lines about
    # the host's own units (systemd-analyze loads the dependencies) are not ours to judge.
    ours = [l for l in (r.stdout + r.stderr).splitlines() if "pyvitals" in l or str(tmp_path) in l]
    assert r.returncode == 0 and not ours, f"systemd-analyze verify (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def test_systemd_unit_sandbox_is_scored(tmp_path):
    """systemd's own exposure score (0 = locked down, 10 = nothing): a hardening line dropped by mistake
    raises it past the threshold. 3.7 when written."""
    require_tool("systemd-analyze", "systemd")
    unit = verifiable_copy(tmp_path)
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=40", "--no-pager", str(unit)],
                       capture_output=True, text=True)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
    print(score.group(0) if score else r.stdout[-300:])
    assert r.returncode == 0 and score and float(score.group(1)) <= 4.0, r.stdout[-2000:] + r.stderr


def test_systemd_unit_runs_serve_with_the_capabilities_it_needs():
    f = unit_fields(open(UNIT).read())
    svc, install = f["Service"], f["Install"]
    assert svc["ExecStart"] == [f"{BINARY} serve --all-python --config {CONFIG}"]
    assert svc["Restart"] == ["on-failure"]
    assert install["WantedBy"] == ["multi-user.target"]
    # Root (no User=) limited to the start-up capabilities; serve drops to four of them itself.
    assert "User" not in svc and "DynamicUser" not in svc
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        caps = " ".join(svc[key]).split()
        assert {c.removeprefix("CAP_") for c in caps} == CAPS and all(c.startswith("CAP_") for c in caps), key
    assert svc["NoNewPrivileges"] == ["yes"]
    assert "MemoryMax" in svc


def test_systemd_unit_sandbox_leaves_what_pyvitals_reads():
    """The hardening that would break the agent, each for a reason found by tools/vmtest/unit-check or the
    systemd.exec manual."""
    svc = unit_fields(open(UNIT).read())["Service"]
    get = lambda k: svc.get(k, [""])[-1]
    assert get("ProtectSystem") == "strict"
    assert get("PrivateTmp") == "yes"
    # yes or tmpfs would hide /home from the agent's own view; read-only keeps it readable.
    assert get("ProtectHome") == "read-only"
    # Every process stays visible through the host's own /proc, not a procfs of the unit's.
    assert get("ProtectProc") in ("", "default") and get("ProcSubset") in ("", "all")
    # /proc/kallsyms, which libbpf may read, is hidden by ProtectKernelTunables.
    assert get("ProtectKernelTunables") in ("", "no")
    # A user namespace would leave the agent with no capability on the host; a network one would hide
    # the listener from Prometheus.
    assert get("PrivateUsers") in ("", "no") and get("PrivateNetwork") in ("", "no")
    # The system calls pyvitals makes outside @system-service; failures are EPERM, never SIGSYS.
    calls = " ".join(svc.get("SystemCallFilter", [])).split()
    assert {"bpf", "perf_event_open", "@mount", "@system-service"} <= set(calls)
    assert get("SystemCallErrorNumber") == "EPERM"
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(get("RestrictAddressFamilies").split())


# --- pyvitals.ini ---------------------------------------------------------------------------------------

def read_ini(text):
    # inih: ';' comments at line start, no inline comments, a line starting with whitespace would
    # continue the previous value.
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        assert not re.match(r"\s+\S", line), f"line {n} starts with whitespace (inih reads it as a continuation)"
        if "=" in line and not line.startswith(";"):
            assert not re.search(r"[;#]", line.partition("=")[2]), f"line {n}: a comment after a value: {line!r}"
    cp = configparser.ConfigParser(comment_prefixes=(";",), inline_comment_prefixes=None, strict=True,
                                   interpolation=None, empty_lines_in_values=False)
    cp.read_string(text)
    return {s: dict(cp[s]) for s in cp.sections()}


def test_ini_example_has_every_key_with_its_default():
    assert read_ini(open(INI).read()) == DEFAULTS


def test_ini_example_documents_every_key():
    """Each key (or the degraded/critical pair it belongs to) follows a comment that explains it."""
    lines = open(INI).read().splitlines()
    is_key = lambda l: re.match(r"^[a-z0-9_]+ =", l) is not None
    for n, line in enumerate(lines):
        if not is_key(line):
            continue
        above = n - 1
        while above >= 0 and is_key(lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith(";"), f"{line.split()[0]} has no comment above it"


# --- Prometheus -----------------------------------------------------------------------------------------

def promtool(*args, cwd=None):
    require_tool("promtool", "prometheus")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


def test_prometheus_scrape_config_is_valid():
    r = promtool("check", "config", PROM)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout, "prometheus.yml must load pyvitals-alerts.yml"
    cfg = yaml.safe_load(open(PROM))
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "pyvitals"]
    assert job["scrape_interval"] == "15s" and job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]


def test_prometheus_bearer_token_block_works_when_uncommented(tmp_path):
    """The optional authorization block, commented out in the file, is valid once uncommented."""
    token = tmp_path / "pyvitals.token"
    token.write_text("s3cret\n")
    text = open(PROM).read()
    on = re.sub(r"^(\s*)# (authorization:)\n(\s*)#   (credentials_file:) \S+",
                lambda m: f"{m[1]}{m[2]}\n{m[3]}  {m[4]} {token}", text, flags=re.M)
    assert on != text, "prometheus.yml lost its commented authorization/credentials_file block"
    (tmp_path / "prometheus.yml").write_text(on)
    shutil.copy(ALERTS, tmp_path)
    r = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    (job,) = yaml.safe_load(on)["scrape_configs"]
    assert job["authorization"] == {"credentials_file": str(token)}


def test_alert_rules_are_valid():
    r = promtool("check", "rules", ALERTS)
    assert r.returncode == 0, r.stdout + r.stderr
    names = {r["alert"] for g in yaml.safe_load(open(ALERTS))["groups"] for r in g["rules"]}
    assert {"PyvitalsHigh5xxRatio", "PyvitalsHighP99Latency", "PyvitalsServiceCritical", "PyvitalsEventsLost"} <= names


SVC = 'service_name="gunicorn app:app"'
ROUTE = SVC + ',http_request_method="GET",http_route="/users/{id}"'


def series(metric, labels, values):
    return {"series": f"{metric}{{{labels}}}", "values": values}


def alert_tests():
    """promtool unit tests: synthetic series (one sample a minute) and the alerts they must raise, exactly."""
    count = "http_server_request_duration_seconds_count"
    bucket = "http_server_request_duration_seconds_bucket"
    slow = SVC + ',http_request_method="GET",http_route="/slow"'
    return [
        {   # /users/{id}: 1 req/s, 9% 5xx -> fires. /ok: 1% 5xx -> quiet. /rare: all 5xx but 0.05 req/s -> quiet.
            "interval": "1m",
            "input_series": [
                series(count, ROUTE + ',http_response_status_code="200"', "0+60x20"),
                series(count, ROUTE + ',http_response_status_code="500"', "0+6x20"),
                series(count, SVC + ',http_request_method="GET",http_route="/ok",http_response_status_code="200"', "0+99x20"),
                series(count, SVC + ',http_request_method="GET",http_route="/ok",http_response_status_code="503"', "0+1x20"),
                series(count, SVC + ',http_request_method="GET",http_route="/rare",http_response_status_code="500"', "0+3x20"),
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "PyvitalsHigh5xxRatio", "exp_alerts": []},  # not yet for 5m
                {"eval_time": "15m", "alertname": "PyvitalsHigh5xxRatio", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", "service_name": "gunicorn app:app",
                                   "http_request_method": "GET", "http_route": "/users/{id}"},
                    "exp_annotations": {"summary": "gunicorn app:app: GET /users/{id} answers 9.091% of requests with 5xx"},
                }]},
            ],
        },
        {   # /slow: every request in (1 s, 2.5 s] -> p99 ~2.5 s fires; /users/{id}: all under 0.1 s -> quiet.
            "interval": "1m",
            "input_series": [
                series(bucket, slow + ',le="0.1"', "0x30"),
                series(bucket, slow + ',le="1"', "0x30"),
                series(bucket, slow + ',le="2.5"', "0+60x30"),
                series(bucket, slow + ',le="+Inf"', "0+60x30"),
                series(bucket, ROUTE + ',le="0.1"', "0+60x30"),
                series(bucket, ROUTE + ',le="1"', "0+60x30"),
                series(bucket, ROUTE + ',le="2.5"', "0+60x30"),
                series(bucket, ROUTE + ',le="+Inf"', "0+60x30"),
            ],
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "PyvitalsHighP99Latency", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "service_name": "gunicorn app:app",
                                   "http_request_method": "GET", "http_route": "/slow"},
                    "exp_annotations": {"summary": "gunicorn app:app: GET /slow p99 latency is 2.485s"},
                }]},
            ],
        },
        {   # pyvitals' own verdict: a critical service pages after 2 minutes, a degraded one warns after 15.
            "interval": "1m",
            "input_series": [
                series("pyvitals_health_status", 'instance="node1:9464",job="pyvitals",service_name="api"', "2x30"),
                series("pyvitals_health_status", 'instance="node1:9464",job="pyvitals",service_name="worker"', "1x30"),
                series("pyvitals_health_status", 'instance="node1:9464",job="pyvitals",service_name="web"', "0x30"),
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "PyvitalsServiceCritical", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", "service_name": "api", "instance": "node1:9464",
                                   "job": "pyvitals"},
                    "exp_annotations": {"summary": "api is critical (see /health on node1:9464 for why)"},
                }]},
                {"eval_time": "5m", "alertname": "PyvitalsServiceDegraded", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "PyvitalsServiceDegraded", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "service_name": "worker", "instance": "node1:9464",
                                   "job": "pyvitals"},
                    "exp_annotations": {"summary": "worker has been degraded for 15 minutes "
                                                   "(see /health on node1:9464 for why)"},
                }]},
            ],
        },
        {   # 5 events lost at minute 10: the alert holds while the loss is in the last 5 minutes.
            "interval": "1m",
            "input_series": [
                series("pyvitals_events_lost_total", 'instance="node1:9464",job="pyvitals"', "0x10 5x20"),
                series("up", 'instance="node1:9464",job="pyvitals"', "1x10 0x10"),
            ],
            "alert_rule_test": [
                {"eval_time": "9m", "alertname": "PyvitalsEventsLost", "exp_alerts": []},
                {"eval_time": "12m", "alertname": "PyvitalsEventsLost", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "instance": "node1:9464"},
                    "exp_annotations": {"summary": "pyvitals on node1:9464 lost 5 events in 5 minutes: "
                                                   "its figures are incomplete"},
                }]},
                {"eval_time": "20m", "alertname": "PyvitalsEventsLost", "exp_alerts": []},
                {"eval_time": "18m", "alertname": "PyvitalsDown", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "instance": "node1:9464", "job": "pyvitals"},
                    "exp_annotations": {"summary": "pyvitals on node1:9464 cannot be scraped: "
                                                   "no service on that host is watched"},
                }]},
            ],
        },
    ]


def test_alert_rules_fire_on_what_they_describe(tmp_path):
    """Each rule against synthetic series with the label names pyvitals exports: it fires where it
    should, stays quiet where it should not (low traffic, a healthy route), with its summary text."""
    tests = tmp_path / "alerts.test.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [ALERTS], "evaluation_interval": "1m", "tests": alert_tests()},
                                    sort_keys=False))
    r = promtool("test", "rules", str(tests))
    assert r.returncode == 0, r.stdout + r.stderr


# --- Kubernetes -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def k8s():
    docs = [d for d in yaml.safe_load_all(open(DAEMONSET)) if d]
    by_kind = {}
    for d in docs:
        assert d["kind"] not in by_kind, f"two {d['kind']}s"
        by_kind[d["kind"]] = d
    assert set(by_kind) == {"ServiceAccount", "ConfigMap", "DaemonSet"}
    return by_kind


def test_kubernetes_objects_name_no_namespace(k8s):
    """kubectl apply -n NAMESPACE picks it."""
    assert all("namespace" not in d["metadata"] for d in k8s.values())


def test_daemonset_sees_the_hosts_processes_with_the_capabilities_it_needs(k8s):
    spec = k8s["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    assert spec["serviceAccountName"] == k8s["ServiceAccount"]["metadata"]["name"]
    (c,) = spec["containers"]
    assert c["command"] == [BINARY]
    assert c["args"] == ["serve", "--all-python", "--listen", "0.0.0.0:9464", "--config", CONFIG]
    sc = c["securityContext"]
    assert sc.get("privileged", False) is False
    assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == CAPS, "names without CAP_, as Kubernetes writes them"
    # The API server rejects allowPrivilegeEscalation: false together with SYS_ADMIN (or privileged).
    assert sc.get("allowPrivilegeEscalation") is not False


def test_daemonset_probes_never_ask_health(k8s):
    """/health answers 503 when a watched service is critical: a probe on it would restart the agent
    (liveness) or hide its metrics (readiness) exactly when they matter."""
    spec = k8s["DaemonSet"]["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 9464}
    for kind in ("livenessProbe", "readinessProbe"):
        assert kind in c, f"no {kind}"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(kind)
        if probe is None:
            continue
        handler = probe.get("httpGet") or probe.get("tcpSocket")
        assert handler is not None, f"{kind}: only tcpSocket or httpGet /metrics"
        assert ports.get(handler["port"], handler["port"]) == 9464, kind
        if "httpGet" in probe:
            assert probe["httpGet"]["path"] == "/metrics", f"{kind} asks {probe['httpGet']['path']}"
    assert "tcpSocket" in c["livenessProbe"] or c["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_daemonset_mounts_btf_tracefs_and_its_config(k8s):
    tmpl = k8s["DaemonSet"]["spec"]["template"]
    spec = tmpl["spec"]
    (c,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    host = lambda path: volumes[mounts[path]["name"]].get("hostPath", {}).get("path")
    assert host("/sys/kernel/btf") == "/sys/kernel/btf" and mounts["/sys/kernel/btf"]["readOnly"] is True
    assert host("/sys/kernel/tracing") == "/sys/kernel/tracing"
    assert host("/sys/kernel/debug") == "/sys/kernel/debug"
    # --config names a file of the ConfigMap in this manifest.
    config_dir, config_file = os.path.split(CONFIG)
    cm = volumes[mounts[config_dir]["name"]]["configMap"]
    assert cm["name"] == k8s["ConfigMap"]["metadata"]["name"] and config_file in k8s["ConfigMap"]["data"]
    # Selector, labels and scrape annotations (strings, as Kubernetes requires).
    assert k8s["DaemonSet"]["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
    ann = tmpl["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9464"
    assert ann.get("prometheus.io/path", "/metrics") == "/metrics"


def test_configmap_ini_is_the_example_listening_everywhere(k8s):
    ini = read_ini(k8s["ConfigMap"]["data"]["pyvitals.ini"])
    expected = {s: dict(v) for s, v in DEFAULTS.items()}
    expected["serve"]["listen"] = "0.0.0.0:9464"
    assert ini == expected
