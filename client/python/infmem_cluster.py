"""What a Python client of an infmem cluster needs beyond the stubs (docs/operations.md).

- `channel(address)`: a gRPC channel whose calls are retried on UNAVAILABLE under gRPC's retry
  policy (what a cluster answers while a session moves or a replica restarts), as the CLI's.
- `routed(session_id)`: the call metadata naming the session, which HAProxy routes by.
- `SequencedSession`: numbers the calls of one session (`client_seq`), so that a call
  resent after a lost acknowledgement is applied once.

    import grpc, infmem_cluster
    from infmem.v1 import infmem_pb2 as pb   # protoc --python_out on proto/infmem/v1
    ch = infmem_cluster.channel("127.0.0.1:50051")
    append = ch.unary_unary("/infmem.v1.Infmem/Append",
                            request_serializer=pb.AppendRequest.SerializeToString,
                            response_deserializer=pb.AppendResponse.FromString)
    chat = infmem_cluster.SequencedSession("chat-1")
    request = pb.AppendRequest(session_id="chat-1", text="Hello", client_seq=chat.next_seq())
    reply = append(request, metadata=chat.metadata, timeout=30)   # resend `request` as is
                                                                  # if it fails
Debian's python3-grpcio is enough; tests/integration/python_client_test.py runs this module.
"""

import json

import grpc

SESSION_HEADER = "x-infmem-session"

# gRFC A6 retry policy: at most 5 attempts (gRPC's cap), backoff 0.5 s to 3 s; a streamed
# Generate is retried only before its first message arrives.
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "infmem.v1.Infmem"}],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.5s",
            "maxBackoff": "3s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]
})


def channel(address, credentials=None):
  """A channel to `address` (host:port) that retries UNAVAILABLE; TLS with `credentials`."""
  options = [("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1)]
  if credentials is None:
    return grpc.insecure_channel(address, options=options)
  return grpc.secure_channel(address, credentials, options=options)


def routed(session_id):
  """Call metadata that routes a call to the replica likely to hold `session_id`."""
  return ((SESSION_HEADER, session_id),)


class SequencedSession:
  """Numbers one session's calls. Start from the session's last number when resuming in a
  new process (e.g. persist it with the conversation); numbers only need to grow."""

  def __init__(self, session_id, last_seq=0):
    self.session_id = session_id
    self.last_seq = last_seq
    self.metadata = routed(session_id)

  def next_seq(self):
    self.last_seq += 1
    return self.last_seq
