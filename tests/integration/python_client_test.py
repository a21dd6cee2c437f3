#!/usr/bin/python3
"""Drives a real infmem-server from Python, with stubs built apart from the C++ ones.

A client written from proto/infmem/v1/infmem.proto alone: protoc generates the message classes
into a temporary directory at test time, and every call goes through grpc's generic
unary_unary / unary_stream / stream_unary / stream_stream with those classes' serializers. The
health and reflection services are spoken with hand-encoded protobuf bytes, so the test needs
no grpcio-health-checking or grpcio-reflection package.

Usage: /usr/bin/python3 python_client_test.py SERVER_BINARY REPO_ROOT [unittest args]
(or INFMEM_SERVER_BINARY and INFMEM_SOURCE_DIR in the environment). Runs with Debian's
python3-grpcio and python3-protobuf.

The test starts its own server on 127.0.0.1, port 0, with a temporary session directory, and
stops it with SIGTERM at the end, expecting exit code 0.
"""

import importlib.util
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
import urllib.request

import grpc

SERVER_BINARY = os.environ.get("INFMEM_SERVER_BINARY", "")
REPO_ROOT = os.environ.get("INFMEM_SOURCE_DIR", "")
RPC_TIMEOUT_S = 60
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
LISTEN_LINE = re.compile(
    r"^infmem-server listening on 127\.0\.0\.1:(\d+), metrics on port (\d+)$")

# Loaded by setUpModule: the protoc-generated infmem/v1/infmem_pb2.py.
pb = None


def _generate_stubs(out_dir):
  """Runs protoc on the repository's proto and imports the generated module."""
  subprocess.run([
      shutil.which("protoc") or "/usr/bin/protoc", "--proto_path=" + os.path.join(REPO_ROOT, "proto"),
      "--python_out=" + out_dir, "infmem/v1/infmem.proto"
  ], check=True)
  path = os.path.join(out_dir, "infmem", "v1", "infmem_pb2.py")
  spec = importlib.util.spec_from_file_location("infmem_v1_infmem_pb2", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


# --- Hand encoding of the few protobuf fields health and reflection need. ---


def _encode_varint(value):
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _decode_varint(data, pos):
  result = 0
  shift = 0
  while True:
    byte = data[pos]
    pos += 1
    result |= (byte & 0x7F) << shift
    if not byte & 0x80:
      return result, pos
    shift += 7


def _encode_string_field(number, value):
  return _encode_varint(number << 3 | 2) + _encode_varint(len(value)) + value


def _decode_fields(data):
  """Returns [(field number, value)] of a message: ints for varints, bytes otherwise."""
  fields = []
  pos = 0
  while pos < len(data):
    key, pos = _decode_varint(data, pos)
    number, wire_type = key >> 3, key & 7
    if wire_type == 0:
      value, pos = _decode_varint(data, pos)
    elif wire_type == 2:
      length, pos = _decode_varint(data, pos)
      value = bytes(data[pos:pos + length])
      pos += length
    elif wire_type == 1:
      value = bytes(data[pos:pos + 8])
      pos += 8
    elif wire_type == 5:
      value = bytes(data[pos:pos + 4])
      pos += 4
    else:
      raise ValueError("unexpected wire type %d" % wire_type)
    fields.append((number, value))
  return fields


def _identity(data):
  return data


class ServerFixture:
  """One infmem-server process on 127.0.0.1 port 0 with a temporary session directory."""

  def __init__(self):
    self.temp = tempfile.TemporaryDirectory(prefix="infmem_python_client_test_")
    self.session_dir = os.path.join(self.temp.name, "sessions")
    os.mkdir(self.session_dir)
    self.stderr_path = os.path.join(self.temp.name, "server.stderr")
    self.stderr = open(self.stderr_path, "wb")
    self.process = subprocess.Popen([
        SERVER_BINARY, "--host=127.0.0.1", "--port=0", "--metrics_port=0",
        "--session_dir=" + self.session_dir,
        "--model_dir=" + os.path.join(REPO_ROOT, "models", "brown-lm"), "--threads=1"
    ], stdout=subprocess.PIPE, stderr=self.stderr)
    try:
      line = self._read_listen_line()
      match = LISTEN_LINE.match(line)
      if not match:
        raise AssertionError("unexpected first stdout line: %r" % line)
      self.port = int(match.group(1))
      self.metrics_port = int(match.group(2))
    except BaseException:
      self.kill()
      raise

  def _read_listen_line(self):
    deadline = time.monotonic() + START_TIMEOUT_S
    data = b""
    fd = self.process.stdout.fileno()
    # The server prints an "open on ..." line when its ports open, then "listening on ..."
    # once the model is loaded and it serves.
    while b"infmem-server listening" not in data or not data.endswith(b"\n"):
      left = deadline - time.monotonic()
      if left <= 0:
        raise AssertionError("server printed no listening line in %d s; stderr:\n%s" %
                             (START_TIMEOUT_S, self.stderr_text()))
      ready, _, _ = select.select([fd], [], [], left)
      if ready:
        chunk = os.read(fd, 4096)
        if not chunk:
          raise AssertionError("server exited (%s) before listening; stderr:\n%s" %
                               (self.process.wait(), self.stderr_text()))
        data += chunk
    lines = data.decode().splitlines()
    return next(line for line in lines if line.startswith("infmem-server listening"))

  def stderr_text(self):
    self.stderr.flush()
    with open(self.stderr_path, "rb") as f:
      return f.read().decode(errors="replace")

  def stop(self):
    """Sends SIGTERM and returns the exit code (None if it had to be killed)."""
    self.process.send_signal(signal.SIGTERM)
    try:
      code = self.process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
      self.kill()
      code = None
    self._close()
    return code

  def kill(self):
    if self.process.poll() is None:
      self.process.kill()
      self.process.wait()
    self._close()

  def _close(self):
    self.process.stdout.close()
    self.stderr.close()
    self.temp.cleanup()


class PythonClientTest(unittest.TestCase):
  """The API end to end, over one server shared by the test methods."""

  @classmethod
  def setUpClass(cls):
    cls.server = ServerFixture()
    cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.server.port)
    grpc.channel_ready_future(cls.channel).result(timeout=START_TIMEOUT_S)

    def unary(name, request, response):
      return cls.channel.unary_unary(
          "/infmem.v1.Infmem/" + name,
          request_serializer=request.SerializeToString,
          response_deserializer=response.FromString)

    cls.create_session = unary("CreateSession", pb.CreateSessionRequest, pb.Session)
    cls.get_session = unary("GetSession", pb.GetSessionRequest, pb.Session)
    cls.list_sessions = unary("ListSessions", pb.ListSessionsRequest, pb.ListSessionsResponse)
    cls.delete_session = unary("DeleteSession", pb.DeleteSessionRequest,
                               pb.DeleteSessionResponse)
    cls.fork_session = unary("ForkSession", pb.ForkSessionRequest, pb.Session)
    cls.append = unary("Append", pb.AppendRequest, pb.AppendResponse)
    cls.tokenize = unary("Tokenize", pb.TokenizeRequest, pb.TokenizeResponse)
    cls.detokenize = unary("Detokenize", pb.DetokenizeRequest, pb.DetokenizeResponse)
    cls.get_model = unary("GetModel", pb.GetModelRequest, pb.Model)
    cls.generate = cls.channel.unary_stream(
        "/infmem.v1.Infmem/Generate",
        request_serializer=pb.GenerateRequest.SerializeToString,
        response_deserializer=pb.GenerateResponse.FromString)
    cls.export_session = cls.channel.unary_stream(
        "/infmem.v1.Infmem/ExportSession",
        request_serializer=pb.ExportSessionRequest.SerializeToString,
        response_deserializer=pb.SessionChunk.FromString)
    cls.import_session = cls.channel.stream_unary(
        "/infmem.v1.Infmem/ImportSession",
        request_serializer=pb.ImportSessionRequest.SerializeToString,
        response_deserializer=pb.Session.FromString)
    cls.health_check = cls.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=_identity, response_deserializer=_identity)
    cls.reflection_info = cls.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=_identity, response_deserializer=_identity)

  @classmethod
  def tearDownClass(cls):
    cls.channel.close()
    code = cls.server.stop()
    if code != 0:
      raise AssertionError("infmem-server exited with %r after SIGTERM, want 0" % code)

  # --- Helpers. ---

  def create(self, session_id, text=""):
    return self.create_session(
        pb.CreateSessionRequest(session_id=session_id, text=text), timeout=RPC_TIMEOUT_S)

  def tokens(self, session_id):
    return self.get_session(
        pb.GetSessionRequest(session_id=session_id), timeout=RPC_TIMEOUT_S).tokens

  def run_generate(self, request):
    """Returns (the stream's messages, all token ids, the text)."""
    messages = list(self.generate(request, timeout=RPC_TIMEOUT_S))
    ids = [i for m in messages for i in m.token_ids]
    return messages, ids, "".join(m.text for m in messages)

  def greedy(self, session_id, max_tokens=12, dry_run=True):
    _, ids, text = self.run_generate(
        pb.GenerateRequest(session_id=session_id, max_tokens=max_tokens, dry_run=dry_run))
    self.assertEqual(len(ids), max_tokens, "greedy run of %s ended early" % session_id)
    return ids, text

  def assert_code(self, code, call, request):
    with self.assertRaises(grpc.RpcError) as raised:
      result = call(request, timeout=RPC_TIMEOUT_S)
      if hasattr(result, "__next__"):
        list(result)  # A server stream fails on the first read.
    self.assertEqual(raised.exception.code(), code, raised.exception.details())
    return raised.exception

  # --- Tests. ---

  def test_get_model(self):
    model = self.get_model(pb.GetModelRequest(), timeout=RPC_TIMEOUT_S)
    self.assertEqual(model.name, "brown-infinite")
    self.assertEqual(model.memory, "infinite")
    self.assertEqual(model.vocab_size, 4096)
    self.assertEqual(model.dim, 128)
    self.assertEqual(model.layers, 3)
    self.assertEqual(model.heads, 4)
    self.assertEqual(model.segment_length, 128)
    self.assertEqual(model.num_basis, 128)
    self.assertGreater(model.parameters, 0)
    self.assertGreater(model.state_bytes_per_session, 0)
    self.assertEqual(model.device, "cpu")
    self.assertRegex(model.fingerprint, r"^[0-9a-f]+$")

  def test_create_append_generate(self):
    created = self.create("py_create", "The jury said that")
    self.assertEqual(created.id, "py_create")
    self.assertEqual(created.tokens, 6)  # BOS + 5 tokens.
    self.assertTrue(created.resident)
    self.assertGreater(created.create_time_unix_ms, 0)
    model = self.get_model(pb.GetModelRequest(), timeout=RPC_TIMEOUT_S)
    self.assertEqual(created.state_bytes, model.state_bytes_per_session)

    empty = self.create("py_empty")
    self.assertEqual(empty.tokens, 1)  # BOS only.

    appended = self.append(pb.AppendRequest(session_id="py_create", text=" it was"),
                           timeout=RPC_TIMEOUT_S)
    self.assertGreater(appended.appended_tokens, 0)
    self.assertEqual(appended.session_tokens, 6 + appended.appended_tokens)
    self.assertEqual(self.tokens("py_create"), appended.session_tokens)

    ids = self.tokenize(pb.TokenizeRequest(text=" and"), timeout=RPC_TIMEOUT_S).token_ids
    by_ids = self.append(pb.AppendRequest(session_id="py_create",
                                          token_ids=pb.TokenIds(ids=ids)),
                         timeout=RPC_TIMEOUT_S)
    self.assertEqual(by_ids.appended_tokens, len(ids))
    self.assertEqual(by_ids.session_tokens, appended.session_tokens + len(ids))

    before = self.tokens("py_create")
    max_tokens = 9
    messages, gen_ids, text = self.run_generate(
        pb.GenerateRequest(session_id="py_create", text=" the", max_tokens=max_tokens))
    self.assertEqual(len(gen_ids), max_tokens)
    self.assertTrue(all(0 <= i < model.vocab_size for i in gen_ids))
    self.assertTrue(text.strip(), "generated text is empty")
    final = messages[-1]
    self.assertEqual(final.finish_reason, pb.FINISH_REASON_LENGTH)
    for m in messages[:-1]:
      self.assertEqual(m.finish_reason, pb.FINISH_REASON_UNSPECIFIED)
    prompt = len(self.tokenize(pb.TokenizeRequest(text=" the"), timeout=RPC_TIMEOUT_S).token_ids)
    self.assertEqual(final.usage.prompt_tokens, prompt)
    self.assertEqual(final.usage.generated_tokens, max_tokens)
    self.assertEqual(final.usage.session_tokens, before + prompt + max_tokens)
    self.assertEqual(self.tokens("py_create"), final.usage.session_tokens)
    # The streamed text is the ids' text. Detokenize, like SentencePiece's decoder, drops the
    # leading space of the first word; the stream keeps it, as it continues the session's text.
    detok = self.detokenize(pb.DetokenizeRequest(token_ids=gen_ids), timeout=RPC_TIMEOUT_S)
    self.assertEqual(detok.text, text.lstrip(" "))

  def test_the_cluster_client_module_retries_once_by_sequence_number(self):
    # client/python/infmem_cluster.py: its channel, routing metadata and numbering.
    sys.path.insert(0, os.path.join(REPO_ROOT, "client", "python"))
    import infmem_cluster  # pylint: disable=import-outside-toplevel
    ch = infmem_cluster.channel("127.0.0.1:%d" % self.server.port)
    append = ch.unary_unary("/infmem.v1.Infmem/Append",
                            request_serializer=pb.AppendRequest.SerializeToString,
                            response_deserializer=pb.AppendResponse.FromString)
    self.create("py_seq", "The jury said")
    chat = infmem_cluster.SequencedSession("py_seq")
    request = pb.AppendRequest(session_id="py_seq", text=" that", client_seq=chat.next_seq())
    first = append(request, metadata=chat.metadata, timeout=RPC_TIMEOUT_S)
    again = append(request, metadata=chat.metadata, timeout=RPC_TIMEOUT_S)  # a resend
    self.assertFalse(first.duplicate)
    self.assertTrue(again.duplicate)
    self.assertEqual(again.session_tokens, first.session_tokens)
    messages, ids, _ = self.run_generate(
        pb.GenerateRequest(session_id="py_seq", max_tokens=3, client_seq=1))
    self.assertEqual(ids, [])
    self.assertEqual(messages[-1].finish_reason, pb.FINISH_REASON_DUPLICATE)
    nxt = append(pb.AppendRequest(session_id="py_seq", text=" it", client_seq=chat.next_seq()),
                 metadata=chat.metadata, timeout=RPC_TIMEOUT_S)
    self.assertFalse(nxt.duplicate)
    ch.close()

  def test_dry_run_is_deterministic_and_leaves_session(self):
    self.create("py_dry", "The jury said that")
    first, _ = self.greedy("py_dry")
    second, _ = self.greedy("py_dry")
    self.assertEqual(first, second)
    self.assertEqual(self.tokens("py_dry"), 6)
    # A real (non-dry) greedy run continues the same way, then joins the memory.
    real, _ = self.greedy("py_dry", dry_run=False)
    self.assertEqual(real, first)
    self.assertEqual(self.tokens("py_dry"), 6 + len(real))

  def test_fork_then_greedy_equal(self):
    self.create("py_fork_src", "The jury said that the city")
    forked = self.fork_session(
        pb.ForkSessionRequest(session_id="py_fork_src", new_session_id="py_fork_dst"),
        timeout=RPC_TIMEOUT_S)
    self.assertEqual(forked.id, "py_fork_dst")
    self.assertEqual(forked.tokens, self.tokens("py_fork_src"))
    src, _ = self.greedy("py_fork_src", dry_run=False)
    dst, _ = self.greedy("py_fork_dst", dry_run=False)
    self.assertEqual(src, dst)
    # The two evolve independently: appending to one leaves the other's count alone.
    self.append(pb.AppendRequest(session_id="py_fork_src", text=" more"),
                timeout=RPC_TIMEOUT_S)
    self.assertGreater(self.tokens("py_fork_src"), self.tokens("py_fork_dst"))

  def test_export_import_then_greedy_equal(self):
    self.create("py_export", "The jury said that the election was")
    self.greedy("py_export", max_tokens=5, dry_run=False)  # Some generated state too.
    chunks = list(self.export_session(pb.ExportSessionRequest(session_id="py_export"),
                                      timeout=RPC_TIMEOUT_S))
    self.assertGreaterEqual(len(chunks), 1)
    self.assertEqual(chunks[0].session.id, "py_export")
    self.assertEqual(chunks[0].session.tokens, self.tokens("py_export"))
    self.assertGreater(sum(len(c.data) for c in chunks), 0)

    def requests():
      for i, chunk in enumerate(chunks):
        yield pb.ImportSessionRequest(session_id="py_imported" if i == 0 else "",
                                      chunk=chunk)

    imported = self.import_session(requests(), timeout=RPC_TIMEOUT_S)
    self.assertEqual(imported.id, "py_imported")
    self.assertEqual(imported.tokens, self.tokens("py_export"))
    self.assertEqual(self.greedy("py_imported"), self.greedy("py_export"))
    # Importing again under the same id is refused.
    self.assert_code(grpc.StatusCode.ALREADY_EXISTS, self.import_session, iter(
        [pb.ImportSessionRequest(session_id="py_imported", chunk=c) for c in chunks[:1]] +
        [pb.ImportSessionRequest(chunk=c) for c in chunks[1:]]))

  def test_list_sessions_paging(self):
    want = ["py_list_%d" % i for i in range(3)]
    for session_id in want:
      self.create(session_id)
    seen = []
    token = ""
    pages = 0
    while True:
      page = self.list_sessions(pb.ListSessionsRequest(page_size=1, page_token=token),
                                timeout=RPC_TIMEOUT_S)
      pages += 1
      self.assertLessEqual(len(page.sessions), 1)
      seen.extend(s.id for s in page.sessions)
      token = page.next_page_token
      if not token:
        break
      self.assertLess(pages, 1000, "paging does not end")
    self.assertEqual(seen, sorted(seen), "sessions not in id order")
    self.assertEqual(len(seen), len(set(seen)), "a session appears twice")
    for session_id in want:
      self.assertIn(session_id, seen)
    # One unpaged request returns the same ids.
    whole = self.list_sessions(pb.ListSessionsRequest(), timeout=RPC_TIMEOUT_S)
    self.assertEqual([s.id for s in whole.sessions], seen)
    self.assertEqual(whole.next_page_token, "")

  def test_delete_then_get_not_found(self):
    self.create("py_delete")
    self.delete_session(pb.DeleteSessionRequest(session_id="py_delete"),
                        timeout=RPC_TIMEOUT_S)
    self.assert_code(grpc.StatusCode.NOT_FOUND, self.get_session,
                     pb.GetSessionRequest(session_id="py_delete"))
    self.assert_code(grpc.StatusCode.NOT_FOUND, self.delete_session,
                     pb.DeleteSessionRequest(session_id="py_delete"))

  def test_bad_input_codes(self):
    error = self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.get_session,
                             pb.GetSessionRequest(session_id="../x"))
    self.assertIn("session_id", error.details())
    self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.create_session,
                     pb.CreateSessionRequest(session_id="../x"))
    self.assert_code(grpc.StatusCode.NOT_FOUND, self.get_session,
                     pb.GetSessionRequest(session_id="py_no_such_session"))
    self.assert_code(grpc.StatusCode.NOT_FOUND, self.generate,
                     pb.GenerateRequest(session_id="py_no_such_session", max_tokens=2))
    self.create("py_bad")
    error = self.assert_code(
        grpc.StatusCode.INVALID_ARGUMENT, self.generate,
        pb.GenerateRequest(session_id="py_bad", max_tokens=2,
                           sampling=pb.SamplingParams(temperature=-1)))
    self.assertIn("temperature", error.details())
    self.assert_code(grpc.StatusCode.ALREADY_EXISTS, self.create_session,
                     pb.CreateSessionRequest(session_id="py_bad"))
    self.assertEqual(self.tokens("py_bad"), 1)

  def test_unparsable_requests_get_what_the_readme_documents(self):
    # gRPC C++ parses the request before any of our code runs; a message it cannot parse
    # (invalid UTF-8 in a string field, a truncated field) is answered by gRPC itself. The
    # README documents what a client sees; this pins it, and that the server stays up.
    raw_get = self.channel.unary_unary("/infmem.v1.Infmem/GetSession",
                                       request_serializer=_identity,
                                       response_deserializer=_identity)
    for request in (_encode_string_field(1, b"\xff\xfe"),  # session_id: invalid UTF-8
                    _encode_string_field(1, b"abcdef")[:-3]):  # truncated string field
      with self.assertRaises(grpc.RpcError) as caught:
        raw_get(request, timeout=RPC_TIMEOUT_S)
      self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED, request)
      self.assertEqual(caught.exception.details() or "", "", request)
    self.assertEqual(self.get_model(pb.GetModelRequest(), timeout=RPC_TIMEOUT_S).vocab_size,
                     4096)

  def test_health_serving(self):
    response = self.health_check(b"", timeout=RPC_TIMEOUT_S)
    self.assertEqual(_decode_fields(response), [(1, 1)])  # status: SERVING.

  def test_metrics_after_generate(self):
    self.create("py_metrics", "The jury said that")
    self.greedy("py_metrics", max_tokens=3, dry_run=False)
    url = "http://127.0.0.1:%d/metrics" % self.server.metrics_port
    with urllib.request.urlopen(url, timeout=RPC_TIMEOUT_S) as response:
      self.assertEqual(response.status, 200)
      body = response.read().decode()
    samples = {}
    for line in body.splitlines():
      if not line or line.startswith("#"):
        continue
      match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
      self.assertIsNotNone(match, "bad metrics line: %r" % line)
      labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
      samples.setdefault(match.group(1), []).append((labels, float(match.group(3))))
    generate_ok = [v for labels, v in samples.get("infmem_request_duration_seconds_count", [])
                   if labels.get("method") == "Generate" and labels.get("code") == "OK"]
    self.assertEqual(len(generate_ok), 1, body)
    self.assertGreaterEqual(generate_ok[0], 1)
    generated = [v for _, v in samples.get("infmem_generated_tokens_total", [])]
    self.assertEqual(len(generated), 1, body)
    self.assertGreaterEqual(generated[0], 3)

  def test_reflection_lists_service(self):
    request = _encode_string_field(7, b"")  # list_services: "".
    responses = list(self.reflection_info(iter([request]), timeout=RPC_TIMEOUT_S))
    self.assertEqual(len(responses), 1)
    names = []
    for number, value in _decode_fields(responses[0]):
      if number == 6:  # list_services_response.
        for service_number, service in _decode_fields(value):
          if service_number == 1:  # service: ServiceResponse.
            names.extend(v for n, v in _decode_fields(service) if n == 1)
    self.assertIn(b"infmem.v1.Infmem", names)
    self.assertIn(b"grpc.health.v1.Health", names)


def setUpModule():
  global pb
  out_dir = tempfile.mkdtemp(prefix="infmem_python_stubs_")
  PythonClientTest.stubs_dir = out_dir
  pb = _generate_stubs(out_dir)


def tearDownModule():
  shutil.rmtree(PythonClientTest.stubs_dir, ignore_errors=True)


if __name__ == "__main__":
  args = sys.argv[1:]
  if len(args) >= 2 and not args[0].startswith("-"):
    SERVER_BINARY, REPO_ROOT = args[0], args[1]
    args = args[2:]
  if not SERVER_BINARY or not REPO_ROOT:
    sys.exit("usage: %s SERVER_BINARY REPO_ROOT [unittest args] "
             "(or INFMEM_SERVER_BINARY and INFMEM_SOURCE_DIR)" % sys.argv[0])
  SERVER_BINARY = os.path.abspath(SERVER_BINARY)
  REPO_ROOT = os.path.abspath(REPO_ROOT)
  unittest.main(argv=[sys.argv[0]] + args, verbosity=2)
