#!/usr/bin/env python3
"""A real Prometheus (Debian's package) scrapes a real infmem-server.

Checks, against the project's own deploy/ files:
  - promtool accepts deploy/prometheus/prometheus.yml and alerts.yml;
  - Prometheus, run with that configuration (target rewritten to the test's server), scrapes
    the server, and a PromQL query through its HTTP API returns exactly the number of
    Generate calls the test made;
  - every PromQL expression of the alert rules and of the Grafana dashboard is accepted by
    that Prometheus.

usage: prometheus_test.py SERVER_BINARY CLI_BINARY REPO_ROOT
Hermetic: 127.0.0.1, port 0 for both servers, a temporary directory; both are stopped.
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

SERVER, CLI, REPO = sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None)
GENERATE_CALLS = 3


def read_line_with(proc, marker, timeout):
  deadline = time.monotonic() + timeout
  data = b""
  while True:
    for line in data.decode(errors="replace").splitlines():
      if marker in line:
        return line
    left = deadline - time.monotonic()
    if left <= 0:
      raise AssertionError("no line with %r within %d s" % (marker, timeout))
    ready, _, _ = select.select([proc.stdout], [], [], left)
    if ready:
      chunk = os.read(proc.stdout.fileno(), 4096)
      if not chunk:
        raise AssertionError("process exited (%s) before %r" % (proc.wait(), marker))
      data += chunk


def listening_port(pid, timeout=30):
  """Returns the TCP port process `pid` listens on (Prometheus does not print a chosen port)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    for line in out.splitlines():
      if "pid=%d," % pid in line:
        return int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    time.sleep(0.1)
  raise AssertionError("prometheus opened no port")


class PrometheusTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    cls.tmp = tempfile.mkdtemp(prefix="infmem-prometheus-")
    cls.logs = [open(os.path.join(cls.tmp, name), "w")
                for name in ("server.log", "prometheus.log")]
    cls.server = subprocess.Popen(
        [SERVER, "--host=127.0.0.1", "--port=0", "--metrics_port=0", "--threads=1",
         "--model_dir=" + os.path.join(REPO, "models/brown-lm"),
         "--session_dir=" + os.path.join(cls.tmp, "sessions")],
        stdout=subprocess.PIPE, stderr=cls.logs[0])
    line = read_line_with(cls.server, "infmem-server listening", 60)
    m = re.search(r"127\.0\.0\.1:(\d+), metrics on port (\d+)", line)
    cls.address, cls.metrics_port = "127.0.0.1:" + m.group(1), int(m.group(2))

    # The shipped configuration, with its target pointed at this server and a fast scrape.
    config_dir = os.path.join(cls.tmp, "prometheus")
    os.makedirs(config_dir)
    deploy = os.path.join(REPO, "deploy/prometheus")
    shutil.copy(os.path.join(deploy, "alerts.yml"), config_dir)
    with open(os.path.join(deploy, "prometheus.yml")) as f:
      config = f.read()
    assert "infmem:9464" in config
    config = config.replace("infmem:9464", "127.0.0.1:%d" % cls.metrics_port)
    config = re.sub(r"scrape_interval: \w+", "scrape_interval: 1s", config)
    with open(os.path.join(config_dir, "prometheus.yml"), "w") as f:
      f.write(config)
    cls.prometheus = subprocess.Popen(
        ["prometheus", "--config.file=" + os.path.join(config_dir, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(cls.tmp, "data"),
         "--web.listen-address=127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=cls.logs[1])
    cls.api = "http://127.0.0.1:%d/api/v1/" % listening_port(cls.prometheus.pid)

  @classmethod
  def tearDownClass(cls):
    for proc in (cls.prometheus, cls.server):
      proc.send_signal(signal.SIGTERM)
    server_rc = cls.server.wait(timeout=60)
    cls.prometheus.wait(timeout=60)
    cls.server.stdout.close()
    for log in cls.logs:
      log.close()
    shutil.rmtree(cls.tmp, ignore_errors=True)
    if server_rc != 0:
      raise AssertionError("infmem-server exited %d on SIGTERM" % server_rc)

  def cli(self, *args):
    done = subprocess.run([CLI, "--server=" + self.address] + list(args),
                          capture_output=True, text=True, timeout=60)
    self.assertEqual(done.returncode, 0, done.stderr)
    return done.stdout

  def query(self, expr):
    url = self.api + "query?" + urllib.parse.urlencode({"query": expr})
    try:
      with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)
    except urllib.error.HTTPError as e:  # 400: a bad expression, with its error in the body
      return json.load(e)

  def test_config_and_rules_pass_promtool(self):
    deploy = os.path.join(REPO, "deploy/prometheus")
    for args in (["check", "config", os.path.join(deploy, "prometheus.yml")],
                 ["check", "rules", os.path.join(deploy, "alerts.yml")]):
      done = subprocess.run(["promtool"] + args, capture_output=True, text=True)
      self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

  def test_prometheus_counts_the_calls_the_server_served(self):
    self.cli("create", "--id=scraped", "--text=The jury said that")
    for _ in range(GENERATE_CALLS):
      self.cli("generate", "scraped", "--max_tokens=4")
    expr = 'sum(infmem_request_duration_seconds_count{method="Generate",code="OK"})'
    deadline = time.monotonic() + 60
    value = None
    while time.monotonic() < deadline:
      result = self.query(expr)
      self.assertEqual(result["status"], "success", result)
      if result["data"]["result"]:
        value = float(result["data"]["result"][0]["value"][1])
        if value == GENERATE_CALLS:
          break
      time.sleep(0.5)
    self.assertEqual(value, GENERATE_CALLS)
    up = self.query('up{job="infmem"}')["data"]["result"]
    self.assertEqual(float(up[0]["value"][1]), 1.0)
    free = self.query("infmem_session_dir_available_bytes")["data"]["result"]
    self.assertGreater(float(free[0]["value"][1]), 0)

  def test_every_rule_and_dashboard_expression_is_valid_promql(self):
    exprs = []
    with open(os.path.join(REPO, "deploy/prometheus/alerts.yml")) as f:
      # The rules file is YAML; its expressions are the `expr:` values (folded with `|`).
      text = f.read()
    for m in re.finditer(r"expr: (\|\n((?: {10}.*\n)+)|.*)", text):
      exprs.append((m.group(2) or m.group(1)).strip())
    with open(os.path.join(REPO, "deploy/grafana/dashboards/infmem.json")) as f:
      dashboard = json.load(f)
    for panel in dashboard["panels"]:
      exprs += [t["expr"] for t in panel["targets"]]
    self.assertGreaterEqual(len(exprs), 6 + len(dashboard["panels"]))
    for expr in exprs:
      result = self.query(expr)
      self.assertEqual(result["status"], "success", "%s: %s" % (expr, result.get("error")))
    # The check can fail: a broken expression is refused.
    self.assertEqual(self.query("sum(rate(infmem_generated_tokens_total[1m])")["status"], "error")


if __name__ == "__main__":
  unittest.main(argv=sys.argv[:1], verbosity=2)
