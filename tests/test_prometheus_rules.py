"""Checks for the Prometheus and Grafana deliverables in deploy/.

* promtool check config / check rules / test rules (needs promtool on PATH:
  ``apt-get install -y --no-install-recommends prometheus`` on Debian).
  Without promtool these tests fail when $CI is set and are skipped otherwise.
* Static checks (no promtool): the rules and the Grafana dashboard only use
  metric names the gateway exposes or recording rules defined in
  deploy/prometheus/rules/recording.yml, alerts carry severity, annotations
  and a runbook link, and every alert has a promtool unit test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.metrics import Metrics

REPO = Path(__file__).resolve().parents[1]
PROM_DIR = REPO / "deploy" / "prometheus"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
RECORDING_RULES = PROM_DIR / "rules" / "recording.yml"
ALERT_RULES = PROM_DIR / "rules" / "alerts.yml"
RULE_FILES = (RECORDING_RULES, ALERT_RULES)
RULES_TEST = PROM_DIR / "tests" / "rules_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "chat-gateway-dashboard.json"
RUNBOOKS = REPO / "docs" / "runbooks.md"

PROMTOOL_INSTALL_HINT = (
    "promtool is not on PATH; install it with "
    "`apt-get install -y --no-install-recommends prometheus` (Debian/Ubuntu) "
    "or put a Prometheus release's promtool on PATH"
)

# ---------------------------------------------------------------------------
# What the gateway exposes: read from the real `Metrics` on a fresh registry, so a rule,
# panel or runbook naming a metric the code lacks fails here.
# ---------------------------------------------------------------------------
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def gateway_families() -> dict[str, str]:
    """Metric family name -> type, as the gateway's `Metrics` registers them."""
    return {family.name: family.type for family in Metrics(CollectorRegistry()).registry.collect()}


def gateway_series() -> set[str]:
    """Every sample name `/metrics` can serve (`_created` is dropped by the exposition)."""
    return {name + suffix for name, kind in gateway_families().items()
            for suffix in _SUFFIXES[kind]}


# Series Prometheus itself writes for every target.
PROMETHEUS_SERIES = {"up"}

REQUIRED_ALERTS = {
    "ChatGatewayHigh5xxRatio",
    "ChatGatewayUpstreamLatencyP99High",
    "ChatGatewayCircuitOpen",
    "ChatGatewayConfigReloadFailing",
    "ChatGatewayUpstreamTimeouts",
    "ChatGatewayDown",
}
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_RE = re.compile(r"^docs/runbooks\.md#([a-z0-9-]+)$")
# level:metric:operations, e.g. upstream:chat_gateway_requests_5xx:ratio_rate5m
RECORD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$")

# PromQL functions and aggregation operators (Prometheus 2.x).
PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
    "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
}
PROMQL_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"}

# Metric names a dashboard panel must cover (each appears in at least one query).
DASHBOARD_MUST_COVER = {
    "chat_gateway_requests_total",
    "chat_gateway_request_duration_seconds_bucket",
    "chat_gateway_upstream_request_duration_seconds_bucket",
    "chat_gateway_upstream_requests_total",
    "chat_gateway_upstream_calls_per_request_bucket",
    "chat_gateway_requests_in_flight",
    "chat_gateway_cursor_rejections_total",
    "chat_gateway_config_loads_total",
    "chat_gateway_config_info",
    "chat_gateway_circuit_breaker_state",
}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if _ci():
            pytest.fail(f"{PROMTOOL_INSTALL_HINT} (CI is set, so this is an error)")
        pytest.skip(PROMTOOL_INSTALL_HINT)
    return path


def run_promtool(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [promtool(), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"promtool {' '.join(map(str, args))} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    return proc


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules_of(path: Path) -> list[dict]:
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def recording_rule_names() -> set[str]:
    return {r["record"] for r in rules_of(RECORDING_RULES) if "record" in r}


def alert_rules() -> list[dict]:
    return [r for r in rules_of(ALERT_RULES) if "alert" in r]


def allowed_series() -> set[str]:
    return gateway_series() | PROMETHEUS_SERIES | recording_rule_names()


_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS_RE = re.compile(r"\{[^{}]*\}")
_RANGE_RE = re.compile(r"\[[^\[\]]*\]")
_GROUPING_RE = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_BARE_GROUP_RE = re.compile(r"\b(?:group_left|group_right)\b", re.IGNORECASE)
_OFFSET_RE = re.compile(r"\boffset\s+-?[0-9a-z]+", re.IGNORECASE)
_GRAFANA_VAR_RE = re.compile(r"\$(?:\{[^}]*\}|\w+)")
_IDENT_RE = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (Grafana variables allowed).

    Strips strings, label matchers, ranges, grouping clauses and variables;
    what is left are function calls, keywords and metric names. An unknown
    function name raises AssertionError.
    """
    s = _GRAFANA_VAR_RE.sub("", expr)
    s = _STRING_RE.sub('""', s)
    s = _MATCHERS_RE.sub("", s)
    s = _RANGE_RE.sub("", s)
    s = _GROUPING_RE.sub("", s)
    s = _BARE_GROUP_RE.sub("", s)
    s = _OFFSET_RE.sub("", s)
    names: set[str] = set()
    for m in _IDENT_RE.finditer(s):
        token, call = m.group(1), m.group(2)
        if token.lower() in PROMQL_KEYWORDS:
            continue
        if call:
            assert token in PROMQL_FUNCTIONS | PROMQL_AGGREGATIONS, (
                f"unknown PromQL function {token!r} in {expr!r}"
            )
        elif token in PROMQL_AGGREGATIONS:
            continue
        else:
            names.add(token)
    return names


def test_promql_metric_names_helper():
    expr = (
        'sum by (upstream, le) (rate(chat_gateway_request_duration_seconds_bucket'
        '{upstream=~"$upstream", code=~"5.."}[$__rate_interval])) / on (upstream) '
        'group_left up:foo:rate5m offset 5m > bool 0.5 or (vector(0) and up{job="x"} == 1e-09)'
    )
    assert promql_metric_names(expr) == {
        "chat_gateway_request_duration_seconds_bucket",
        "up:foo:rate5m",
        "up",
    }
    with pytest.raises(AssertionError):
        promql_metric_names("rat(chat_gateway_requests_total[5m])")


def dashboard() -> dict:
    with DASHBOARD.open(encoding="utf-8") as f:
        return json.load(f)


def dashboard_panels(dash: dict) -> list[dict]:
    """All panels, including those nested in (collapsed) rows."""
    out: list[dict] = []
    for panel in dash.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []) or [])
    return out


def dashboard_exprs(dash: dict) -> list[tuple[str, str]]:
    return [
        (panel.get("title", ""), target["expr"])
        for panel in dashboard_panels(dash)
        if panel.get("type") != "row"
        for target in panel.get("targets", [])
    ]


def _is_datasource_var(ds) -> bool:
    return isinstance(ds, dict) and ds.get("uid") in ("${datasource}", "$datasource")


# ---------------------------------------------------------------------------
# promtool
# ---------------------------------------------------------------------------
def test_promtool_check_config():
    cfg = load_yaml(PROM_CONFIG)
    # rule_files globs are resolved relative to prometheus.yml; they must find both files.
    resolved = {
        p.resolve() for pattern in cfg["rule_files"] for p in PROM_CONFIG.parent.glob(pattern)
    }
    assert {p.resolve() for p in RULE_FILES} <= resolved, resolved
    jobs = {sc["job_name"]: sc for sc in cfg["scrape_configs"]}
    assert "chat-gateway" in jobs
    assert jobs["chat-gateway"].get("metrics_path", "/metrics") == "/metrics"
    run_promtool("check", "config", PROM_CONFIG)


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path):
    run_promtool("check", "rules", rule_file)


def test_promtool_test_rules():
    proc = run_promtool("test", "rules", RULES_TEST)
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_dashboard_queries_parse(tmp_path: Path):
    """Every dashboard query is valid PromQL (variables replaced by sample values)."""
    rules = []
    for i, (_, expr) in enumerate(dashboard_exprs(dashboard())):
        concrete = (
            expr.replace("$__rate_interval", "1m")
            .replace("${upstream}", ".*")
            .replace("$upstream", ".*")
            .replace("${instance}", ".*")
            .replace("$instance", ".*")
        )
        assert "$" not in concrete, f"unhandled Grafana variable in {expr!r}"
        rules.append({"record": f"dashboard_query_{i}", "expr": concrete})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", path)


# ---------------------------------------------------------------------------
# static checks of the rules
# ---------------------------------------------------------------------------
def test_recording_rule_names_follow_convention():
    names = [r["record"] for r in rules_of(RECORDING_RULES)]
    assert names, "no recording rules"
    assert len(names) == len(set(names)), "duplicate recording rule names"
    for name in names:
        assert RECORD_NAME_RE.match(name), f"{name} is not level:metric:operations"
        assert ":chat_gateway_" in name, f"{name} does not name a chat_gateway metric"
    for required in (
        "upstream:chat_gateway_requests:rate5m",
        "upstream:chat_gateway_requests_5xx:ratio_rate5m",
        "upstream:chat_gateway_upstream_request_duration_seconds:p99_5m",
        "upstream:chat_gateway_upstream_requests_errors:ratio_rate5m",
    ):
        assert required in names


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_rules_use_known_metrics(rule_file: Path):
    allowed = allowed_series()
    for rule in rules_of(rule_file):
        unknown = promql_metric_names(rule["expr"]) - allowed
        assert not unknown, f"{rule.get('record') or rule.get('alert')}: unknown series {unknown}"


def test_alerts_have_for_severity_annotations_runbook():
    alerts = alert_rules()
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert REQUIRED_ALERTS <= set(names), REQUIRED_ALERTS - set(names)
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("for"), f"{name} has no for:"
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        ann = alert.get("annotations", {})
        assert ann.get("summary") and ann.get("description"), name
        m = RUNBOOK_RE.match(ann.get("runbook_url", ""))
        assert m, f"{name}: runbook_url must be docs/runbooks.md#<anchor>"
        assert m.group(1) == name.lower(), f"{name}: runbook anchor should be {name.lower()}"
        if "upstream" in alert["expr"]:
            assert "{{ $labels.upstream }}" in ann["summary"], f"{name}: summary lacks upstream"


def test_every_alert_has_a_unit_test():
    tests = load_yaml(RULES_TEST)["tests"]
    tested = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", []) or []
    }
    fired = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", []) or []
        if case.get("exp_alerts")
    }
    names = {a["alert"] for a in alert_rules()}
    assert names <= tested, f"alerts without a promtool test: {names - tested}"
    assert names <= fired, f"alerts never shown firing in a test: {names - fired}"


# ---------------------------------------------------------------------------
# Grafana dashboard
# ---------------------------------------------------------------------------
def test_dashboard_structure():
    dash = dashboard()
    assert dash["schemaVersion"] >= 36
    assert dash.get("uid") and dash.get("title")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    up = variables["upstream"]
    assert up["type"] == "query" and _is_datasource_var(up["datasource"])
    query = up["query"] if isinstance(up["query"], str) else up["query"].get("query", "")
    assert re.fullmatch(r"label_values\(\s*chat_gateway_\w+\s*,\s*upstream\s*\)", query), query

    panels = dashboard_panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        assert "gridPos" in panel, panel.get("title")
        if panel["type"] == "row":
            continue
        title = panel.get("title")
        assert _is_datasource_var(panel.get("datasource")), f"{title}: datasource not ${{datasource}}"
        assert panel.get("targets"), f"{title}: no targets"
        for target in panel["targets"]:
            assert _is_datasource_var(target.get("datasource")), title
            assert target.get("expr", "").strip(), f"{title}: empty expr"
            assert target.get("refId"), title


def test_dashboard_uses_known_metrics():
    dash = dashboard()
    allowed = allowed_series()
    used: set[str] = set()
    for title, expr in dashboard_exprs(dash):
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        unknown = names - allowed
        assert not unknown, f"{title}: unknown series {unknown} in {expr!r}"
        used |= names
    missing = DASHBOARD_MUST_COVER - used
    assert not missing, f"dashboard has no panel for {missing}"


# ---------------------------------------------------------------------------
# Runbooks
# ---------------------------------------------------------------------------
_DOC_METRIC_RE = re.compile(r"\b(?:[a-z_]+:)?chat_gateway_[a-z0-9_]+(?::[a-z0-9_]+)?")


def test_gateway_series_are_read_from_the_code():
    series = gateway_series()
    assert "chat_gateway_requests_total" in series
    assert "chat_gateway_request_duration_seconds_bucket" in series
    assert "chat_gateway_requests_in_flight" in series
    assert "chat_gateway_requests" not in series  # a counter is served as _total
    assert not [name for name in series if name.endswith("_created")]


def test_runbooks_name_only_metrics_the_gateway_exposes():
    """A runbook may name a series, a histogram/counter family, or a recording rule."""
    known = gateway_series() | set(gateway_families()) | recording_rule_names()
    named = set(_DOC_METRIC_RE.findall(RUNBOOKS.read_text(encoding="utf-8")))
    assert named, "the runbooks name no metric"
    assert named - known == set()


def test_every_alert_has_a_runbook_section():
    headings = {line[3:].strip().lower() for line in RUNBOOKS.read_text().splitlines()
                if line.startswith("## ")}
    assert {a["alert"].lower() for a in alert_rules()} <= headings
