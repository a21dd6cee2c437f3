// llama-logits: prints llama.cpp's logits for a list of token ids, for
// scripts/bench-vs-llamacpp.sh's agreement check (not part of infmem's build; compiled by that
// script against the user's llama.cpp build).
//   llama-logits MODEL.gguf TOKENS_FILE [THREADS]
// TOKENS_FILE holds whitespace-separated token ids. One causal forward over all of them as one
// sequence (positions 0..T-1), float32 KV cache, flash attention off: the exact path. Prints
// one line per position with the vocabulary's logits, space-separated (%.9g), the format of
// `model-bench --logits_of`.
// Also built by scripts/fetch-oracles.sh against the npm build of llama.cpp, whose CPU backend
// comes as libggml-cpu-<cpu>.so files next to libllama (see load_cpu_backend).
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

static void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

// A build with GGML_BACKEND_DL (the npm one) has no CPU backend inside libggml: ggml loads the
// best libggml-cpu-<cpu>.so for this CPU, looking only next to the executable and in the current
// directory. When that found none, look in the directory libllama was loaded from.
static bool load_cpu_backend() {
  if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) != nullptr) return true;
  std::string dir;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const char* slash = std::strrchr(info->dlpi_name, '/');
        if (slash == nullptr || std::strncmp(slash + 1, "libllama.", 9) != 0) return 0;
        static_cast<std::string*>(out)->assign(info->dlpi_name, slash);
        return 1;
      },
      &dir);
  if (!dir.empty()) ggml_backend_load_all_from_path(dir.c_str());
  return ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) != nullptr;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf TOKENS_FILE [THREADS]\n", argv[0]);
    return 2;
  }
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  std::vector<llama_token> tokens;
  {
    std::ifstream in(argv[2]);
    for (long t; in >> t;) tokens.push_back(static_cast<llama_token>(t));
  }
  if (tokens.empty()) {
    std::fprintf(stderr, "llama-logits: no token ids in %s\n", argv[2]);
    return 2;
  }
  llama_log_set(quiet_log, nullptr);
  llama_backend_init();
  if (!load_cpu_backend()) {
    std::fprintf(stderr, "llama-logits: no CPU backend (libggml-cpu-*.so next to libllama)\n");
    return 1;
  }
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.progress_callback = [](float, void*) { return true; };  // no progress dots
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (model == nullptr) {
    std::fprintf(stderr, "llama-logits: cannot load %s\n", argv[1]);
    return 1;
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  for (llama_token t : tokens) {
    if (t < 0 || t >= n_vocab) {
      std::fprintf(stderr, "llama-logits: token %d outside the vocabulary [0, %d)\n", t, n_vocab);
      return 2;
    }
  }
  const uint32_t n = static_cast<uint32_t>(tokens.size());
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n;
  cp.n_batch = n;
  cp.n_ubatch = n;
  cp.n_seq_max = 1;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.type_k = GGML_TYPE_F32;
  cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr) {
    std::fprintf(stderr, "llama-logits: cannot create a context of %u tokens\n", n);
    return 1;
  }
  llama_batch batch = llama_batch_init(static_cast<int32_t>(n), 0, 1);
  for (uint32_t i = 0; i < n; ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(n);
  if (llama_decode(ctx, batch) != 0) {
    std::fprintf(stderr, "llama-logits: llama_decode failed\n");
    return 1;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const float* row = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    if (row == nullptr) {
      std::fprintf(stderr, "llama-logits: no logits at position %u\n", i);
      return 1;
    }
    for (int j = 0; j < n_vocab; ++j) std::printf(j == 0 ? "%.9g" : " %.9g", row[j]);
    std::printf("\n");
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
