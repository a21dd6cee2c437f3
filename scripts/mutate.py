#!/usr/bin/python3
"""mutate.py: does the test suite catch plausible bugs? Run before a release, not in CI.

Each mutation below is a small patch (an exact piece of code and what replaces it) that a
reviewer could plausibly miss. The script applies them one at a time to a scratch copy of the
committed tree (a git worktree under build/mutate/, built once with the release preset and
then incrementally), runs the tests that should notice (a ctest -R pattern), restores the
file, and prints a table: how many of those tests failed, so "killed by at least two tests"
can be read off. A mutation that no longer applies (the code moved) is reported, not skipped
silently; so is one whose tests fail before mutating (not a usable oracle).

  scripts/mutate.py                 every mutation
  scripts/mutate.py journal pg_     those whose names contain any of the words
  scripts/mutate.py --list          the names

A well-kept tool first: Debian 12 packages no mutation tester for C++ (apt-cache search finds
neither mull nor dextool), and mutmut and cosmic-ray mutate Python only.
Named patches also keep each mutation reviewable and stable across refactors.
"""
import os
import re
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCRATCH = os.path.join(REPO, "build", "mutate", "src")
BUILD = os.path.join(SCRATCH, "build", "release")

# name, file, code, replacement, ctest pattern of the tests that should fail.
MUTATIONS = [
    # The 16 of the mutation audit (issue 25).
    ("journal_sync_noop", "server/store/journal.cc",
     "absl::Status JournalWriter::Sync() { return file_->Sync(); }",
     "absl::Status JournalWriter::Sync() { return absl::OkStatus(); }",
     "PowerLoss|Durability|Journal"),
    ("pg_append_no_epoch", "server/store/pg_session_store.cc",
     '"WHERE id = $1 AND epoch = $2 AND owner = $3 RETURNING id"',
     '"WHERE id = $1 AND owner = $3 RETURNING id"', "PgSessionStore|PgFencing"),
    ("pg_append_no_owner", "server/store/pg_session_store.cc",
     '"WHERE id = $1 AND epoch = $2 AND owner = $3 RETURNING id"',
     '"WHERE id = $1 AND epoch = $2 RETURNING id"', "PgSessionStore|PgFencing"),
    ("pg_append_no_guard", "server/store/pg_session_store.cc",
     '"WHERE id = $1 AND epoch = $2 AND owner = $3 RETURNING id"',
     '"WHERE id = $1 RETURNING id"', "PgSessionStore|PgFencing"),
    ("auth_last_byte_only", "server/service/auth.cc",
     "diff |= static_cast<unsigned char>(a[i] ^ b[i]);",
     "diff = static_cast<unsigned char>(a[i] ^ b[i]);", "TokenAuthenticator|Tenants"),
    ("top_p_one_too_few", "server/model/sampler.cc",
     "    kept = hi;\n  }", "    kept = hi > 1 ? hi - 1 : hi;\n  }", "Sampler"),
    ("int8_remainder_unscaled", "server/model/kernels/decode_linear.cc",
     "      p.y[r * p.out + o] = p.scale ? sum * p.scale[o] : sum;",
     "      p.y[r * p.out + o] = sum;", "DecodeLinear|ReducedWeights"),
    ("sticky_seed_ignores_updates", "server/model/model.cc",
     "MixSeed(MixSeed(s.seed, static_cast<uint64_t>(l)), s.ltm_updates)",
     "MixSeed(MixSeed(s.seed, static_cast<uint64_t>(l)), 0)", "ModelTest|LtmTest|Modes/"),
    ("ltm_update_a_segment_late", "server/model/model.cc",
     "      if (boundary && n >= 2 * seg) {\n        // Copies",
     "      if (boundary && n >= 3 * seg) {\n        // Copies", "ModelTest|LtmTest|Modes/|Shipped"),
    ("snapshot_no_epoch", "server/store/pg_session_store.cc",
     '"SELECT 1 FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND "\n                  "owner = $3 FOR UPDATE"',
     '"SELECT 1 FROM infmem_sessions WHERE id = $1 AND "\n                  "owner = $3 FOR UPDATE"',
     "PgSessionStore|PgFencing"),
    ("snapshot_no_owner", "server/store/pg_session_store.cc",
     '"SELECT 1 FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND "\n                  "owner = $3 FOR UPDATE"',
     '"SELECT 1 FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND "\n                  "true FOR UPDATE"',
     "PgSessionStore|PgFencing"),
    ("release_no_epoch", "server/store/pg_session_store.cc",
     '"UPDATE infmem_sessions SET owner = NULL WHERE id = $1 AND epoch = $2 AND owner = $3"',
     '"UPDATE infmem_sessions SET owner = NULL WHERE id = $1 AND owner = $3"',
     "PgSessionStore|PgFencing"),
    ("release_no_owner", "server/store/pg_session_store.cc",
     '"UPDATE infmem_sessions SET owner = NULL WHERE id = $1 AND epoch = $2 AND owner = $3"',
     '"UPDATE infmem_sessions SET owner = NULL WHERE id = $1 AND epoch = $2"',
     "PgSessionStore|PgFencing"),
    ("delete_no_epoch", "server/store/pg_session_store.cc",
     '"DELETE FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND owner = $3"',
     '"DELETE FROM infmem_sessions WHERE id = $1 AND owner = $3"', "PgSessionStore|PgFencing"),
    ("delete_no_owner", "server/store/pg_session_store.cc",
     '"DELETE FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND owner = $3"',
     '"DELETE FROM infmem_sessions WHERE id = $1 AND epoch = $2"', "PgSessionStore|PgFencing"),
    ("journal_checksum_ignored", "server/store/journal.cc",
     "    if (Fnv1a64(data.data() + pos, record - kChecksumBytes) != want) {",
     "    if (false && Fnv1a64(data.data() + pos, record - kChecksumBytes) != want) {",
     "Journal|SessionStore|Durability"),
    # This round's own.
    ("new_journal_dir_not_synced", "server/store/journal.cc",
     "  if (created) RETURN_IF_ERROR(files.SyncDir(ParentDir(path)));",
     "", "PowerLoss"),
    ("store_root_not_synced", "server/store/local_session_store.cc",
     "    RETURN_IF_ERROR(files.SyncDir(ParentDir(*it)));", "", "PowerLoss"),
    ("failed_sync_keeps_record", "server/store/local_session_store.cc",
     "    writer->Truncate(before).IgnoreError();", "", "PowerLoss|Durability"),
    ("replay_ignores_chunks", "server/session/journal_replay.cc",
     "    const size_t chunk = static_cast<size_t>(call.shape.prefill_chunk);",
     "    const size_t chunk = 1 << 20;", "Durability|ClusterTest"),
    ("replay_prefills_generated", "server/engine/scheduler.cc",
     "{static_cast<int32_t>(r.result.generated_tokens),", "{0,",
     "Durability|ClusterTest"),
    ("decode_batch_uses_gemm", "server/model/kernels/decode_linear.cc",
     "return rows <= std::max(kMaxDecodeRows, decode_step_rows);",
     "return rows <= kMaxDecodeRows;", "ModelTest|Durability"),
    ("duplicate_retry_no_tokens", "server/service/generate_reactor.cc",
     "  if (request_.client_seq() == session.last_call_seq) ids = session.last_call_generated;",
     "", "Streaming|Durability|ClusterTest"),
    ("compaction_drops_shapes", "server/store/local_session_store.cc",
     "                                     last ? contents.client_seq : 0, call.shape));",
     "                                     last ? contents.client_seq : 0));",
     "SessionStore|Durability"),
    ("failed_generate_keeps_seq", "server/service/generate_reactor.cc",
     "    if (!status.ok() && result_.generated_tokens == 0) {",
     "    if (false) {", "Streaming|Durability"),
    ("append_not_all_or_nothing", "server/service/prefill_call.cc",
     "  if (status.ok()) {\n    status = context_.sessions.Commit(",
     "  if (true) {\n    status = context_.sessions.Commit(", "Streaming|Durability"),
    ("torn_tail_not_cut", "server/store/journal.cc",
     "  if (end > valid_bytes) {", "  if (false) {", "Journal|SessionStore|PowerLoss"),
]


def run(cmd, cwd, log=None):
  done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
  if log is not None:
    with open(log, "a") as f:
      f.write("$ %s\n%s%s" % (" ".join(cmd), done.stdout, done.stderr))
  return done


def scratch_tree():
  """A worktree of HEAD under build/mutate/src, built with the release preset."""
  head = run(["git", "rev-parse", "HEAD"], REPO).stdout.strip()
  if not os.path.isdir(SCRATCH):
    os.makedirs(os.path.dirname(SCRATCH), exist_ok=True)
    if run(["git", "worktree", "add", "--detach", SCRATCH, head], REPO).returncode != 0:
      sys.exit("mutate: cannot make the worktree %s" % SCRATCH)
  run(["git", "checkout", "--detach", "--force", head], SCRATCH)
  run(["git", "clean", "-fdq", "-e", "build/"], SCRATCH)
  data = os.path.join(SCRATCH, "data")  # the fetched oracles (untracked), read only
  if not os.path.exists(data) and os.path.exists(os.path.join(REPO, "data")):
    os.symlink(os.path.join(REPO, "data"), data)
  if run(["cmake", "--preset", "release"], SCRATCH).returncode != 0:
    sys.exit("mutate: cmake --preset release failed in %s" % SCRATCH)
  print("mutate: building the scratch tree (the first time takes as long as a full build)")
  if run(["cmake", "--build", BUILD, "-j2"], SCRATCH).returncode != 0:
    sys.exit("mutate: the unmutated scratch tree does not build")


def ctest(pattern, log):
  done = run(["ctest", "-R", pattern, "-j2", "--timeout", "600"], BUILD, log)
  m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", done.stdout)
  if not m:
    return None, None, done.stdout[-400:]
  return int(m.group(2)), int(m.group(3)), ""


def main(argv):
  if "--list" in argv:
    for m in MUTATIONS:
      print(m[0])
    return 0
  words = [a for a in argv if not a.startswith("-")]
  chosen = [m for m in MUTATIONS if not words or any(w in m[0] for w in words)]
  scratch_tree()
  log = os.path.join(os.path.dirname(SCRATCH), "mutate.log")
  open(log, "w").close()
  rows = []
  # Each pattern's tests on the unmutated build, run before any mutation (a restored file's
  # object is rebuilt only by the next mutation's build).
  baseline = {}
  for _, _, _, _, pattern in chosen:
    if pattern not in baseline:
      baseline[pattern] = ctest(pattern, log)
  for name, path, code, replacement, pattern in chosen:
    start = time.time()
    full = os.path.join(SCRATCH, path)
    with open(full) as f:
      original = f.read()
    if original.count(code) != 1:
      rows.append((name, "-", "-", "does not apply (%d matches): update it" % original.count(code)))
      print("mutate: %s: %s" % (name, rows[-1][3]), flush=True)
      continue
    if pattern not in baseline:  # on the unmutated build, before any mutation ran
      baseline[pattern] = ctest(pattern, log)
    failed, total, why = baseline[pattern]
    if failed != 0:
      rows.append((name, total, failed, "tests fail unmutated: not an oracle %s" % why))
      print("mutate: %s: %s" % (name, rows[-1][3]), flush=True)
      continue
    try:
      with open(full, "w") as f:
        f.write(original.replace(code, replacement))
      built = run(["cmake", "--build", BUILD, "-j2"], SCRATCH, log)
      if built.returncode != 0:
        rows.append((name, "-", "-", "does not compile"))
        continue
      failed, total, why = ctest(pattern, log)
      verdict = ("killed" if failed else "SURVIVED") if failed is not None else "no result " + why
      rows.append((name, total, failed, "%s (%.0f s)" % (verdict, time.time() - start)))
    finally:
      with open(full, "w") as f:
        f.write(original)
    print("mutate: %s: %s" % (name, rows[-1][3]), flush=True)
  run(["cmake", "--build", BUILD, "-j2"], SCRATCH)  # back to the unmutated build
  print("\n| mutation | tests run | tests failed | verdict |\n|---|---:|---:|---|")
  for row in rows:
    print("| %s | %s | %s | %s |" % row)
  survivors = [r for r in rows if not str(r[3]).startswith("killed")]
  print("\n%d mutations, %d killed; log: %s" % (len(rows), len(rows) - len(survivors), log))
  return 1 if survivors else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
