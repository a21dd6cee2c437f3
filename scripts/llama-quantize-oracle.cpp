// llama-quantize-oracle: quantizes a GGUF file with llama.cpp's own quantizer
// (llama_model_quantize), to make the quantized GGUF files that infmem's GGUF import is tested
// against. Built by scripts/fetch-oracles.sh into data/oracles/llama.cpp/bin/ (not part of
// infmem's build).
//   llama-quantize-oracle IN.gguf OUT.gguf TYPE [THREADS]
// TYPE names a llama_ftype (LLAMA_FTYPE_MOSTLY_<TYPE>; F32 is LLAMA_FTYPE_ALL_F32). Everything
// else is llama.cpp's default, as its llama-quantize tool without options: the per-tensor
// mixture of the _S/_M/_L types, output.weight quantized, no importance matrix (so none of the
// IQ types). THREADS defaults to 2. Prints llama.cpp's warnings (e.g. a fallback type for a
// tensor whose rows are not a multiple of the block size) and errors on stderr.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "llama.h"

namespace {

struct Ftype {
  const char* name;
  llama_ftype ftype;
};

const Ftype kFtypes[] = {
    {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},
    {"BF16", LLAMA_FTYPE_MOSTLY_BF16},     {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
    {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},     {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S},
    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
};

void warn_log(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE [THREADS]\nTYPE:", argv[0]);
    for (const Ftype& f : kFtypes) std::fprintf(stderr, " %s", f.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  const Ftype* type = nullptr;
  for (const Ftype& f : kFtypes) {
    if (std::strcmp(f.name, argv[3]) == 0) type = &f;
  }
  if (type == nullptr) {
    std::fprintf(stderr, "llama-quantize-oracle: unknown TYPE %s (see the usage: no arguments)\n",
                 argv[3]);
    return 2;
  }
  llama_log_set(warn_log, nullptr);
  llama_backend_init();  // quantizing needs ggml's tables, not a compute backend
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.nthread = argc > 4 ? std::atoi(argv[4]) : 2;
  params.ftype = type->ftype;
  const uint32_t rc = llama_model_quantize(argv[1], argv[2], &params);
  llama_backend_free();
  if (rc != 0) {
    std::fprintf(stderr, "llama-quantize-oracle: llama_model_quantize(%s -> %s, %s) failed (%u)\n",
                 argv[1], argv[2], type->name, rc);
    return 1;
  }
  std::fprintf(stderr, "llama-quantize-oracle: wrote %s (%s)\n", argv[2], type->name);
  return 0;
}
