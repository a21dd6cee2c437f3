#!/usr/bin/env python3
"""The Kubernetes manifests, the compose files and Grafana provisioning parse and carry what the
deployment relies on; the ConfigMaps' flags start the real server.

Two variants: single node (deploy/k8s/*.yaml, docker-compose.yml: sessions on a local volume)
and cluster mode (deploy/k8s/cluster/, docker-compose.cluster.yml: replicas sharing PostgreSQL
behind HAProxy). Every flag a deploy file passes must be one the server documents (README's
flag table, docs/operations.md) and, once the binary has cluster mode, one its --help lists.

usage: deploy_files_test.py SERVER_BINARY REPO_ROOT   (Debian's python3 with python3-yaml;
       promtool from Debian's prometheus; haproxy, where installed, checks the HAProxy configs)
Hermetic: the server runs on 127.0.0.1 with port 0 in a temporary directory and is stopped.
"""
import functools
import glob
import json
import os
import re
import shutil
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

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


CLUSTER_K8S = os.path.join(K8S, "cluster")
CLUSTER_COMPOSE = os.path.join(REPO or ".", "docker-compose.cluster.yml")
HAPROXY_CFG = os.path.join(REPO or ".", "deploy/haproxy/haproxy.cfg")
# The flags of cluster mode (docs/operations.md, "Cluster mode"). A server binary built before
# cluster mode does not list them yet: they are then checked against the documentation only.
CLUSTER_FLAGS = {"store", "replica_id", "advertise_address", "lease_seconds"}
# Flags Abseil itself defines.
ABSL_FLAGS = {"flagfile", "fromenv", "tryfromenv", "undefok"}


def cluster_manifests():
  docs = []
  for path in sorted(glob.glob(os.path.join(CLUSTER_K8S, "*.yaml"))):
    with open(path) as f:
      docs += [d for d in yaml.safe_load_all(f) if d]
  return docs


@functools.lru_cache(maxsize=None)
def server_help():
  """{flag name: default as --help prints it} of the real server."""
  done = subprocess.run([SERVER, "--help"], capture_output=True, text=True, timeout=60)
  assert done.returncode == 0, done.stderr
  text = done.stdout + done.stderr
  return {m.group(1): m.group(2).strip('"')
          for m in re.finditer(r"^\s+--(\w+) \(.*?\);\s+default: (.*?);$", text, re.S | re.M)}


@functools.lru_cache(maxsize=None)
def documented_flags():
  """Flags named in the tables of README.md and docs/operations.md."""
  names = set()
  for doc in ("README.md", "docs/operations.md"):
    with open(os.path.join(REPO, doc)) as f:
      for line in f:
        if line.startswith("|"):
          names.update(re.findall(r"`--(\w+)", line))
  return names


def flag_names(args):
  return [a[2:].split("=", 1)[0] for a in args if a.startswith("--")]


def flag_values(args):
  """The last value of each --name=value (the one the server keeps)."""
  return dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)


def check_flags_are_the_servers(test, args, where):
  """Every flag of `args` is documented and listed by the server's --help."""
  known = set(server_help())
  for name in flag_names(args):
    if name in ABSL_FLAGS:
      continue
    test.assertIn(name, documented_flags(), "%s: --%s is not documented" % (where, name))
    test.assertIn(name, known, "%s: the server has no --%s" % (where, name))


def dockerfile_instructions(path):
  """[(INSTRUCTION, arguments)] of a Dockerfile, continuation lines joined."""
  with open(path) as f:
    text = re.sub(r"\\\n", " ", f.read())
  return [tuple(l.strip().split(None, 1)) for l in text.splitlines()
          if l.strip() and not l.strip().startswith("#")]


def entrypoint(path):
  return json.loads([a for i, a in dockerfile_instructions(path) if i == "ENTRYPOINT"][-1])


def compose_config(path):
  """The compose file as docker-compose resolves it (variables, anchors and merges)."""
  done = subprocess.run(["docker-compose", "-f", path, "config"], capture_output=True, text=True)
  assert done.returncode == 0, done.stderr
  return yaml.safe_load(done.stdout)


def start_server_with_flags(test, flags):
  """Starts the real server with `flags` (address, ports, model and session directory made
  local and hermetic), waits for it to serve, stops it with SIGTERM and expects exit 0."""
  with tempfile.TemporaryDirectory() as tmp:
    local = {"host": "127.0.0.1", "port": "0", "metrics_port": "0",
             "model_dir": os.path.join(REPO, "models/brown-lm"),
             "session_dir": os.path.join(tmp, "sessions")}
    lines = []
    for f in flags:
      name = f[2:].split("=", 1)[0]
      lines.append("--%s=%s" % (name, local[name]) if name in local else f)
    if "session_dir" not in flag_names(flags):  # the default, ./sessions, is not hermetic
      lines.append("--session_dir=" + local["session_dir"])
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
      test.assertIn(b"listening", data, server.stderr.read1().decode(errors="replace")
                    if server.poll() is not None else "no listening line")
    finally:
      server.send_signal(signal.SIGTERM)
      rc = server.wait(timeout=60)
      server.stdout.close()
      server.stderr.close()
    test.assertEqual(rc, 0)


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
    start_server_with_flags(self, self.flags)

  def test_the_flags_are_the_servers(self):
    check_flags_are_the_servers(self, self.flags + self.container["args"], "deploy/k8s")
    self.assertFalse(set(flag_names(self.flags)) & CLUSTER_FLAGS,
                     "the single-node manifests keep sessions on their volume")

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


class ClusterComposeTest(unittest.TestCase):
  """docker-compose.cluster.yml: PostgreSQL, three replicas, HAProxy and Prometheus."""

  @classmethod
  def setUpClass(cls):
    cls.services = compose_config(CLUSTER_COMPOSE)["services"]
    cls.replicas = sorted(n for n, svc in cls.services.items()
                          if any(a.startswith("--store=") for a in svc.get("command") or []))

  def dockerfile(self, service):
    build = self.services[service]["build"]
    return os.path.join(build["context"], build.get("dockerfile", "Dockerfile"))

  def server_flags(self, replica):
    """The replica's flags: the image's entrypoint, then the service's command."""
    return entrypoint(self.dockerfile(replica))[1:] + self.services[replica]["command"]

  def test_the_compose_file_validates(self):
    done = subprocess.run(["docker-compose", "-f", CLUSTER_COMPOSE, "config", "-q"],
                          capture_output=True, text=True)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertLessEqual({"postgres", "haproxy", "prometheus"}, set(self.services))
    self.assertEqual(self.replicas, ["infmem-1", "infmem-2", "infmem-3"])

  def test_every_image_builds_from_debian(self):
    # No registry is needed: every image is built, FROM the project's Debian base.
    for name, svc in self.services.items():
      self.assertIn("build", svc, "%s is pulled, not built" % name)
      path = self.dockerfile(name)
      self.assertTrue(os.path.isfile(path), path)
      instructions = dockerfile_instructions(path)
      self.assertIn(("ARG", "BASE=debian:bookworm"), instructions, path)
      for instruction, args in instructions:
        if instruction == "FROM":
          self.assertTrue(args.startswith("${BASE}"), "%s: FROM %s" % (path, args))
    self.assertTrue(os.access(os.path.join(REPO, "deploy/postgres/entrypoint.sh"), os.X_OK))
    done = subprocess.run(["bash", "-n", os.path.join(REPO, "deploy/postgres/entrypoint.sh")],
                          capture_output=True, text=True)
    self.assertEqual(done.returncode, 0, done.stderr)

  def test_the_replicas_share_the_postgres_service(self):
    postgres = self.services["postgres"]
    env = postgres["environment"]
    for replica in self.replicas:
      svc = self.services[replica]
      uri = urllib.parse.urlsplit(flag_values(svc["command"])["store"])
      self.assertEqual(uri.scheme, "postgresql", replica)
      self.assertEqual(uri.hostname, "postgres", replica)
      self.assertEqual(uri.port, 5432, replica)
      self.assertEqual(uri.username, env["POSTGRES_USER"], replica)
      self.assertEqual(urllib.parse.unquote(uri.password or ""), env["POSTGRES_PASSWORD"],
                       replica)
      self.assertEqual(uri.path, "/" + env["POSTGRES_DB"], replica)
      self.assertEqual(svc["depends_on"]["postgres"]["condition"], "service_healthy", replica)
    self.assertIn("pg_isready", postgres["healthcheck"]["test"])
    self.assertIn("/var/lib/postgresql/data",
                  [v.split(":")[1] if isinstance(v, str) else v["target"]
                   for v in postgres["volumes"]])
    self.assertNotIn("ports", postgres, "PostgreSQL stays on the compose network")

  def test_each_replica_names_itself_and_its_address(self):
    help_defaults = server_help()
    ids = set()
    for replica in self.replicas:
      svc = self.services[replica]
      flags = flag_values(self.server_flags(replica))
      check_flags_are_the_servers(self, self.server_flags(replica), replica)
      self.assertEqual(flags["host"], "0.0.0.0", replica)
      self.assertEqual(flags["replica_id"], replica)
      self.assertEqual(svc["hostname"], replica)
      ids.add(flags["replica_id"])
      port = flags.get("port", help_defaults.get("port", "50051"))
      # The other replicas call this one at its compose service name on its gRPC port.
      self.assertEqual(flags["advertise_address"], "%s:%s" % (replica, port))
      self.assertIn(port, [str(p) for p in svc["expose"]], replica)
      self.assertGreater(float(flags["lease_seconds"]), 0)
      self.assertTrue(svc["init"], replica)
      self.assertIn("infmem", " ".join(svc["healthcheck"]["test"]), replica)
      self.assertIn("health", svc["healthcheck"]["test"], replica)
      grace = svc["stop_grace_period"]
      self.assertTrue(grace.endswith("s") and grace[:-1].isdigit(), grace)
      self.assertGreater(int(grace[:-1]), float(flags.get("drain_seconds", "10")), replica)
      # The replicas' gRPC ports stay on the compose network (private: the internal
      # ReleaseSession call is served there); only HAProxy publishes one.
      self.assertNotIn("ports", svc, replica)
    self.assertEqual(len(ids), len(self.replicas))

  def test_haproxy_fronts_the_replicas(self):
    haproxy = self.services["haproxy"]
    for replica in self.replicas:
      self.assertIn(haproxy["depends_on"][replica]["condition"],
                    ("service_healthy", "service_started"))
    self.assertIn("test", haproxy["healthcheck"])
    cfg_path = entrypoint(self.dockerfile("haproxy"))
    cfg_path = cfg_path[cfg_path.index("-f") + 1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in haproxy["volumes"]
              if isinstance(v, str)}
    mounts.update({v["target"]: v["source"] for v in haproxy["volumes"] if isinstance(v, dict)})
    self.assertEqual(os.path.realpath(mounts[cfg_path]), os.path.realpath(HAPROXY_CFG))
    for port in haproxy["ports"]:
      published = port if isinstance(port, dict) else None
      if published is None:
        self.assertTrue(port.startswith("127.0.0.1:"), port)
      else:
        self.assertEqual(published.get("host_ip"), "127.0.0.1", port)

  def test_the_haproxy_config_routes_by_session_to_the_replicas(self):
    self.assertTrue(os.path.isfile(HAPROXY_CFG),
                    "deploy/haproxy/haproxy.cfg, which the compose file mounts, is missing")
    with open(HAPROXY_CFG) as f:
      cfg = f.read()
    lines = [l.split("#", 1)[0].split() for l in cfg.splitlines()]
    lines = [l for l in lines if l]
    self.assertIn(["balance", "hdr(x-infmem-session)"], lines)
    self.assertIn(["hash-type", "consistent"], lines)
    self.assertTrue(any(l[0] == "bind" and l[-2:] == ["proto", "h2"] for l in lines),
                    "no HTTP/2 bind")
    servers = {l[2] for l in lines if l[0] == "server" and len(l) > 2}
    for replica in self.replicas:
      self.assertIn("%s:50051" % replica, servers,
                    "haproxy.cfg has no server %s:50051" % replica)
      self.assertIn("%s:8080" % replica, servers,
                    "haproxy.cfg has no server %s:8080 (the HTTP API)" % replica)
    # HTTP/2 to the replicas' gRPC ports, on every server line or on the default-server line
    # before it; HTTP/1.1 to their HTTP API.
    h2 = False
    for l in lines:
      if l[0] == "backend":
        h2 = False
      elif l[0] == "default-server":
        h2 = "h2" in l[l.index("proto") + 1:l.index("proto") + 2] if "proto" in l else False
      elif l[0] == "server":
        this_h2 = h2 or ("proto" in l and l[l.index("proto") + 1] == "h2")
        self.assertEqual(this_h2, l[2].endswith(":50051"),
                         "server %s %s speaks the wrong protocol" % (l[1], l[2]))
    # HAProxy listens on 50051 (or "${VAR-:50051}"), the port the compose file publishes.
    binds = [l[1].strip('"') for l in lines if l[0] == "bind"]
    self.assertTrue(any(re.search(r":50051}?$", b) for b in binds), binds)
    self.assertTrue(any(re.search(r":8080}?$", b) for b in binds), binds)
    published = [p if isinstance(p, str) else "%s:%s" % (p.get("published"), p.get("target"))
                 for p in self.services["haproxy"]["ports"]]
    self.assertTrue(any(re.search(r":8080(/tcp)?$", p) for p in published), published)
    self.assertTrue(any(l[0] == "http-request" and "deny" in l and "/infmem.internal." in l
                        for l in lines), "clients could call the replicas' internal service")

  def test_prometheus_scrapes_every_replica(self):
    prometheus = self.services["prometheus"]
    config = [a.split("=", 1)[1] for a in prometheus["command"]
              if a.startswith("--config.file=")][0]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]
              if isinstance(v, str)}
    mounts.update({v["target"]: v["source"] for v in prometheus["volumes"]
                   if isinstance(v, dict)})
    directory = os.path.dirname(config)
    self.assertEqual(os.path.realpath(mounts[directory]),
                     os.path.realpath(os.path.join(REPO, "deploy/prometheus")))
    local = os.path.join(REPO, "deploy/prometheus", os.path.basename(config))
    with open(local) as f:
      scrape = yaml.safe_load(f)
    job = [j for j in scrape["scrape_configs"] if j["job_name"] == "infmem"][0]
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    port = server_help().get("metrics_port", "9464")
    self.assertEqual(targets, {"%s:%s" % (r, port) for r in self.replicas})
    self.assertIn("alerts.cluster.yml", scrape["rule_files"])
    for args in (["check", "config", local],
                 ["test", "rules", os.path.join(REPO, "deploy/prometheus/alerts.cluster.test.yml")]):
      done = subprocess.run(["promtool"] + args, capture_output=True, text=True,
                            cwd=os.path.join(REPO, "deploy/prometheus"))
      self.assertEqual(done.returncode, 0, done.stdout + done.stderr)


class ClusterManifestsTest(unittest.TestCase):
  """deploy/k8s/cluster: replicas that share PostgreSQL, behind HAProxy."""

  def setUp(self):
    self.docs = cluster_manifests()
    deployments = [d for d in self.docs if d["kind"] == "Deployment"]
    self.replicas = [d for d in deployments
                     if any(a.startswith("--store=") for c in d["spec"]["template"]["spec"]
                            ["containers"] for a in c.get("args", []))][0]
    self.haproxy = [d for d in deployments if d is not self.replicas][0]
    self.pod = self.replicas["spec"]["template"]["spec"]
    self.container = self.pod["containers"][0]
    flags_volume = [v for v in self.pod["volumes"] if v["name"] == "flags"][0]
    configmap = [d for d in self.docs if d["kind"] == "ConfigMap"
                 and d["metadata"]["name"] == flags_volume["configMap"]["name"]][0]
    self.flags = configmap["data"]["infmem.flags"].split()
    self.values = flag_values(self.flags + self.container["args"])
    self.env = {e["name"]: e for e in self.container["env"]}
    self.ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}

  def test_every_kind_the_cluster_needs_is_there(self):
    kinds = {d["kind"] for d in self.docs}
    self.assertLessEqual({"ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                          "ServiceMonitor", "NetworkPolicy"}, kinds)
    for d in self.docs:
      self.assertIn("apiVersion", d)
      self.assertIn("name", d["metadata"])
    # PostgreSQL is an external dependency, not shipped; neither is its password.
    self.assertNotIn("StatefulSet", kinds)
    self.assertNotIn("Secret", kinds)
    self.assertNotIn("PersistentVolumeClaim", kinds)

  def test_the_replicas_keep_nothing_local_and_scale_freely(self):
    self.assertEqual(self.replicas["kind"], "Deployment")
    for volume in self.pod["volumes"]:
      self.assertNotIn("persistentVolumeClaim", volume)
    self.assertNotIn("session_dir", flag_names(self.flags))
    update = self.replicas["spec"]["strategy"]["rollingUpdate"]
    self.assertEqual(update["maxUnavailable"], 0)

  def test_the_store_uri_comes_from_a_secret(self):
    store = self.values["store"]
    var = re.fullmatch(r"\$\((\w+)\)", store).group(1)
    ref = self.env[var]["valueFrom"]["secretKeyRef"]
    with open(os.path.join(CLUSTER_K8S, "store-secret.yaml.example")) as f:
      secret = yaml.safe_load(f)
    self.assertEqual(secret["kind"], "Secret")
    self.assertEqual(ref["name"], secret["metadata"]["name"])
    uri = urllib.parse.urlsplit(secret["stringData"][ref["key"]])
    self.assertEqual(uri.scheme, "postgresql")
    # No credentials in a ConfigMap or any other manifest.
    for path in glob.glob(os.path.join(CLUSTER_K8S, "*.yaml")):
      with open(path) as f:
        self.assertNotIn("postgresql://", f.read(), path)

  def test_each_replica_advertises_its_pod_ip(self):
    check_flags_are_the_servers(self, self.flags + self.container["args"], "deploy/k8s/cluster")
    self.assertEqual(self.values["host"], "0.0.0.0")
    self.assertEqual(str(self.ports["grpc"]), self.values["port"])
    self.assertEqual(str(self.ports["metrics"]), self.values["metrics_port"])
    ip_var, port = re.fullmatch(r"\$\((\w+)\):(\d+)", self.values["advertise_address"]).groups()
    self.assertEqual(self.env[ip_var]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
    self.assertEqual(int(port), self.ports["grpc"])
    name_var = re.fullmatch(r"\$\((\w+)\)", self.values["replica_id"]).group(1)
    self.assertEqual(self.env[name_var]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
    self.assertGreater(float(self.values["lease_seconds"]), 0)
    # Kubernetes expands only variables the container defines (else "$(X)" stays literal).
    for arg in self.container["args"]:
      for var in re.findall(r"\$\((\w+)\)", arg):
        self.assertIn(var, self.env, arg)
    flagfile = [a for a in self.container["args"] if a.startswith("--flagfile=")][0]
    mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
    self.assertTrue(flagfile.split("=", 1)[1].startswith(mounts["flags"]))

  def test_probes_and_shutdown(self):
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
      self.assertEqual(self.container[probe]["grpc"]["port"], self.ports["grpc"], probe)
    self.assertTrue(self.pod["securityContext"]["runAsNonRoot"])
    requests = self.container["resources"]["requests"]
    self.assertIn("cpu", requests)
    self.assertIn("memory", requests)
    # Kubernetes must wait for preStop, the drain and the sessions' release before it kills.
    pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
    self.assertEqual(pre_stop[0], "sleep")
    budget = float(pre_stop[1]) + float(self.values["drain_seconds"])
    self.assertGreater(self.pod["terminationGracePeriodSeconds"], budget + 10)

  def test_selectors_match_the_pods(self):
    replica_labels = self.replicas["spec"]["template"]["metadata"]["labels"]
    haproxy_labels = self.haproxy["spec"]["template"]["metadata"]["labels"]
    for d in (self.replicas, self.haproxy):
      self.assertLessEqual(d["spec"]["selector"]["matchLabels"].items(),
                           d["spec"]["template"]["metadata"]["labels"].items())
    # Each selector picks exactly one of the two kinds of pods.
    for d in self.docs:
      if d["kind"] == "Service":
        selector = d["spec"]["selector"]
      elif d["kind"] in ("PodDisruptionBudget", "ServiceMonitor"):
        selector = d["spec"]["selector"]["matchLabels"]
      elif d["kind"] == "NetworkPolicy":
        selector = d["spec"]["podSelector"]["matchLabels"]
      else:
        continue
      matches = [selector.items() <= labels.items() for labels in (replica_labels, haproxy_labels)]
      self.assertEqual(sum(matches), 1, "%s %s" % (d["kind"], d["metadata"]["name"]))

  def test_haproxy_hashes_the_session_header_over_the_headless_service(self):
    headless = [d for d in self.docs if d["kind"] == "Service"
                and d["spec"].get("clusterIP") == "None"][0]
    replica_labels = self.replicas["spec"]["template"]["metadata"]["labels"]
    self.assertLessEqual(headless["spec"]["selector"].items(), replica_labels.items())
    pod = self.haproxy["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_volume = [v for v in pod["volumes"] if "configMap" in v][0]
    configmap = [d for d in self.docs if d["kind"] == "ConfigMap"
                 and d["metadata"]["name"] == config_volume["configMap"]["name"]][0]
    cfg = configmap["data"]["haproxy.cfg"]
    mount = [m for m in container["volumeMounts"] if m["name"] == config_volume["name"]][0]
    image_cfg = entrypoint(os.path.join(REPO, "deploy/haproxy/Dockerfile"))
    image_cfg = image_cfg[image_cfg.index("-f") + 1]
    self.assertEqual(os.path.join(mount["mountPath"], "haproxy.cfg"), image_cfg)
    self.assertIn("balance hdr(x-infmem-session)", cfg)
    self.assertIn("hash-type consistent", cfg)
    self.assertRegex(cfg, r"bind :%d proto h2" % self.ports["grpc"])
    self.assertRegex(cfg, r"default-server proto h2 ")
    # Clients never reach the replicas' internal calls through HAProxy.
    self.assertRegex(cfg, r"http-request deny .*path_beg /infmem\.internal\.")
    self.assertIn('"%s.${NAMESPACE}.svc.cluster.local:%d"'
                  % (headless["metadata"]["name"], self.ports["grpc"]), cfg)
    env = {e["name"]: e for e in container["env"]}
    self.assertEqual(env["NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace")
    # The clients' Service leads to HAProxy's gRPC port.
    entry = [d for d in self.docs if d["kind"] == "Service" and d is not headless
             and d["spec"]["selector"].items()
             <= self.haproxy["spec"]["template"]["metadata"]["labels"].items()][0]
    haproxy_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    grpc = [p for p in entry["spec"]["ports"] if p["name"] == "grpc"][0]
    self.assertEqual(haproxy_ports[grpc["targetPort"]], self.ports["grpc"])
    self.assertGreater(pod["terminationGracePeriodSeconds"],
                       float(re.search(r"hard-stop-after (\d+)s", cfg).group(1)))
    if shutil.which("haproxy") is None:
      self.skipTest("haproxy is not installed: its -c check of the configuration is skipped")
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "haproxy.cfg")
      with open(path, "w") as f:
        f.write(cfg)
      done = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True,
                            env=dict(os.environ, NAMESPACE="default"))
      self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
      self.assertNotIn("WARNING", done.stdout + done.stderr)

  def test_only_haproxy_and_replicas_reach_the_grpc_port(self):
    policy = one("NetworkPolicy", self.docs)
    rules = [r for r in policy["spec"]["ingress"]
             if any(p["port"] == self.ports["grpc"] for p in r.get("ports", []))]
    self.assertEqual(len(rules), 1)
    sources = [s["podSelector"]["matchLabels"] for s in rules[0]["from"]]
    self.assertEqual(len(sources), len(rules[0]["from"]))
    for labels in (self.replicas["spec"]["template"]["metadata"]["labels"],
                   self.haproxy["spec"]["template"]["metadata"]["labels"]):
      self.assertTrue(any(s.items() <= labels.items() for s in sources))

  def test_the_flags_of_the_configmap_start_the_real_server(self):
    # The flags the replicas share, without the store (the cluster test starts PostgreSQL).
    start_server_with_flags(self, [f for f in self.flags
                                   if f[2:].split("=", 1)[0] not in CLUSTER_FLAGS])


class ClusterDocsTest(unittest.TestCase):

  def test_operations_md_documents_cluster_mode(self):
    with open(os.path.join(REPO, "docs/operations.md")) as f:
      text = f.read()
    self.assertTrue("\n## Cluster mode\n" in text, "docs/operations.md has no Cluster mode section")
    section = text.split("\n## Cluster mode\n", 1)[1].split("\n## ", 1)[0]
    for flag in CLUSTER_FLAGS:
      self.assertIn("`--%s" % flag, section)
    for metric in ("infmem_session_takeovers_total", "infmem_session_handoffs_total",
                   "infmem_store_seconds", "infmem_replica_lease_held"):
      self.assertIn(metric, section)
    with open(os.path.join(REPO, "deploy/prometheus/alerts.cluster.yml")) as f:
      for rule in yaml.safe_load(f)["groups"][0]["rules"]:
        self.assertIn(rule["alert"], section)


if __name__ == "__main__":
  unittest.main(argv=sys.argv[:1], verbosity=2)
