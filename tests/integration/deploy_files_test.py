#!/usr/bin/env python3
"""The Kubernetes manifests, the compose file and Grafana provisioning parse and carry what the
deployment relies on; the ConfigMap's flags start the real server.

usage: deploy_files_test.py SERVER_BINARY REPO_ROOT   (Debian's python3 with python3-yaml)
Hermetic: the server runs on 127.0.0.1 with port 0 in a temporary directory and is stopped.
"""
import glob
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

SERVER, REPO = sys.argv[1:3] if len(sys.argv) >= 3 else (None, None)
K8S = os.path.join(REPO or ".", "deploy/k8s")


def manifests():
  docs = []
  for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
    with open(path) as f:
      docs += [d for d in yaml.safe_load_all(f) if d]
  return docs


def one(kind, docs):
  found = [d for d in docs if d["kind"] == kind]
  assert len(found) >= 1, "no %s" % kind
  return found[0]


class DeployFilesTest(unittest.TestCase):

  def setUp(self):
    self.docs = manifests()
    self.sts = one("StatefulSet", self.docs)
    self.container = self.sts["spec"]["template"]["spec"]["containers"][0]
    self.flags = one("ConfigMap", self.docs)["data"]["infmem.flags"].split()

  def flag(self, name):
    for f in self.flags:
      if f.startswith("--%s=" % name):
        return f.split("=", 1)[1]
    self.fail("the ConfigMap sets no --%s" % name)

  def test_every_kind_the_deployment_needs_is_there(self):
    kinds = {d["kind"] for d in self.docs}
    self.assertLessEqual({"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget",
                          "ServiceMonitor"}, kinds)
    for d in self.docs:
      self.assertIn("apiVersion", d)
      self.assertIn("name", d["metadata"])

  def test_the_statefulset_keeps_sessions_on_a_volume_per_replica(self):
    claims = self.sts["spec"]["volumeClaimTemplates"]
    self.assertEqual(claims[0]["spec"]["accessModes"], ["ReadWriteOnce"])
    mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
    self.assertEqual(mounts[claims[0]["metadata"]["name"]], self.flag("session_dir"))
    self.assertEqual(self.sts["spec"]["serviceName"],
                     [d for d in self.docs if d["kind"] == "Service"
                      and d["spec"].get("clusterIP") == "None"][0]["metadata"]["name"])

  def test_probes_are_native_grpc_on_the_serving_port(self):
    ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
    self.assertEqual(str(ports["grpc"]), self.flag("port"))
    self.assertEqual(str(ports["metrics"]), self.flag("metrics_port"))
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
      self.assertEqual(self.container[probe]["grpc"]["port"], ports["grpc"], probe)

  def test_resources_security_and_shutdown(self):
    requests = self.container["resources"]["requests"]
    self.assertIn("cpu", requests)
    self.assertIn("memory", requests)
    pod = self.sts["spec"]["template"]["spec"]
    self.assertTrue(pod["securityContext"]["runAsNonRoot"])
    # Kubernetes must wait longer than the server's drain before it kills the pod.
    self.assertGreater(pod["terminationGracePeriodSeconds"], float(self.flag("drain_seconds")))
    self.assertEqual(self.flag("host"), "0.0.0.0")

  def test_selectors_match_the_pods(self):
    labels = self.sts["spec"]["template"]["metadata"]["labels"]
    for d in self.docs:
      if d["kind"] == "Service":
        selector = d["spec"]["selector"]
      elif d["kind"] in ("PodDisruptionBudget", "ServiceMonitor"):
        selector = d["spec"]["selector"]["matchLabels"]
      else:
        continue
      self.assertLessEqual(selector.items(), labels.items(), d["kind"])
    monitor = one("ServiceMonitor", self.docs)
    service_ports = {p["name"] for p in one("Service", self.docs)["spec"]["ports"]}
    self.assertIn(monitor["spec"]["endpoints"][0]["port"], service_ports)

  def test_the_flags_of_the_configmap_start_the_real_server(self):
    flagfile_arg = [a for a in self.container["args"] if a.startswith("--flagfile=")][0]
    mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
    self.assertTrue(flagfile_arg.split("=", 1)[1].startswith(mounts["flags"]))
    with tempfile.TemporaryDirectory() as tmp:
      local = {"host": "127.0.0.1", "port": "0", "metrics_port": "0",
               "model_dir": os.path.join(REPO, "models/brown-lm"),
               "session_dir": os.path.join(tmp, "sessions")}
      lines = []
      for f in self.flags:
        name = f[2:].split("=", 1)[0]
        lines.append("--%s=%s" % (name, local[name]) if name in local else f)
      with open(os.path.join(tmp, "infmem.flags"), "w") as out:
        out.write("\n".join(lines) + "\n")
      server = subprocess.Popen([SERVER, "--flagfile=" + os.path.join(tmp, "infmem.flags")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
      try:
        data, deadline = b"", time.monotonic() + 60
        while b"listening" not in data and time.monotonic() < deadline:
          ready, _, _ = select.select([server.stdout], [], [], 1)
          if ready:
            chunk = os.read(server.stdout.fileno(), 4096)
            if not chunk:
              break
            data += chunk
        self.assertIn(b"listening", data, server.stderr.read1().decode(errors="replace")
                      if server.poll() is not None else "no listening line")
      finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=60)
        server.stdout.close()
        server.stderr.close()
      self.assertEqual(rc, 0)

  def test_the_compose_file_validates(self):
    compose = os.path.join(REPO, "docker-compose.yml")
    done = subprocess.run(["docker-compose", "-f", compose, "config", "-q"],
                          capture_output=True, text=True)
    self.assertEqual(done.returncode, 0, done.stderr)
    with open(compose) as f:
      services = yaml.safe_load(f)["services"]
    self.assertLessEqual({"infmem", "prometheus", "grafana"}, set(services))
    self.assertTrue(services["infmem"]["init"])
    # The check can fail: an unknown key is refused.
    with tempfile.TemporaryDirectory() as tmp:
      bad = os.path.join(tmp, "docker-compose.yml")
      with open(bad, "w") as f:
        f.write("services:\n  infmem:\n    image: x\n    no_such_key: 1\n")
      done = subprocess.run(["docker-compose", "-f", bad, "config", "-q"], capture_output=True)
      self.assertNotEqual(done.returncode, 0)

  def test_grafana_provisioning_parses(self):
    grafana = os.path.join(REPO, "deploy/grafana")
    for path in glob.glob(os.path.join(grafana, "provisioning/*/*.yml")):
      with open(path) as f:
        self.assertEqual(yaml.safe_load(f)["apiVersion"], 1, path)


if __name__ == "__main__":
  unittest.main(argv=sys.argv[:1], verbosity=2)
