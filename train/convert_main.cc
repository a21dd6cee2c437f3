// infmem-convert: converts Hugging Face LLaMA-family checkpoints and GGUF files into infmem
// model directories, and infmem models back to Hugging Face, without torch
// (server/formats/hf_checkpoint.h, server/formats/gguf_import.h).
//   infmem-convert --hf_dir=DIR | --gguf=FILE --out=OUT --memory=full|window|infinite
//       [--segment_length=1024]
//       [--num_basis=512 --num_samples=512 --tau=0.5 --ridge_lambda=0.5 --sticky=true]
//       [--seed=1] [--name=NAME]
//   infmem-convert --to_hf --model_dir=INFMEM_DIR --out=HF_DIR
// Progress goes to stderr, one summary line to stdout; the exit status is 1 on any error.
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/flags_help.h"
#include "server/common/status_macros.h"
#include "server/formats/gguf_import.h"
#include "server/formats/hf_checkpoint.h"
#include "server/model/config.h"
#include "server/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, hf_dir, "", "Import: the Hugging Face model directory to read.");
ABSL_FLAG(std::string, gguf, "",
          "Import: a GGUF file to read instead (llama, qwen2, qwen3; F32/F16/BF16 kept, "
          "Q8_0/Q4_0/Q4_K/Q6_K dequantized to float32).");
ABSL_FLAG(std::string, out, "", "The directory to write (import: infmem; export: Hugging Face).");
ABSL_FLAG(std::string, memory, "window",
          "Import: memory mode of the new model: full, window or infinite (adds a long-term "
          "memory that is a no-op until fine-tuned).");
ABSL_FLAG(int, segment_length, 1024, "Import: segment length L.");
ABSL_FLAG(int, num_basis, 512, "Import, infinite: LTM basis functions N.");
ABSL_FLAG(int, num_samples, 512, "Import, infinite: LTM samples M.");
ABSL_FLAG(double, tau, 0.5, "Import, infinite: LTM contraction factor tau.");
ABSL_FLAG(double, ridge_lambda, 0.5, "Import, infinite: LTM ridge regression lambda.");
ABSL_FLAG(bool, sticky, true, "Import, infinite: sticky memories.");
ABSL_FLAG(uint64_t, seed, 1, "Import, infinite: seed of the new LTM weights.");
ABSL_FLAG(std::string, name, "",
          "Import: model name (default: the last part of --hf_dir, or the GGUF's general.name).");
ABSL_FLAG(bool, to_hf, false, "Export an infmem model (--model_dir) to Hugging Face format.");
ABSL_FLAG(std::string, model_dir, "", "Export: the infmem model directory to read.");

namespace infmem {
namespace {

absl::StatusOr<model::MemoryMode> ParseMemory(const std::string& text) {
  if (text == "full") return model::MemoryMode::kFull;
  if (text == "window") return model::MemoryMode::kWindow;
  if (text == "infinite") return model::MemoryMode::kInfinite;
  return absl::InvalidArgumentError(
      absl::StrCat("--memory must be full, window or infinite, got '", text, "'"));
}

// Prints the one-line summary that scripts read.
void PrintSummary(absl::string_view what, const formats::ConversionSummary& summary) {
  const double mb = static_cast<double>(summary.bytes_written) / 1e6;
  std::cout << absl::StrFormat(
      "%s %s: %d parameters, memory %s, %.1f MB written in %.1f s (%.1f MB/s)\n", what,
      summary.config.name, summary.parameters, model::MemoryModeName(summary.config.memory), mb,
      summary.seconds, summary.seconds > 0 ? mb / summary.seconds : 0.0);
}

// The same loader the server uses, so a tokenizer that passes here loads there.
absl::Status CheckTokenizer(const std::string& dir, const std::string& kind,
                            const std::string& file, int vocab) {
  return tokenizer::MakeTokenizer(kind, dir, file, vocab).status();
}

// Fills the options both importers share from the flags.
template <typename Options>
absl::Status CommonImportOptions(Options* options) {
  options->out_dir = absl::GetFlag(FLAGS_out);
  if (options->out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  ASSIGN_OR_RETURN(options->memory, ParseMemory(absl::GetFlag(FLAGS_memory)));
  options->segment_length = absl::GetFlag(FLAGS_segment_length);
  options->ltm.num_basis = absl::GetFlag(FLAGS_num_basis);
  options->ltm.num_samples = absl::GetFlag(FLAGS_num_samples);
  options->ltm.tau = absl::GetFlag(FLAGS_tau);
  options->ltm.ridge_lambda = absl::GetFlag(FLAGS_ridge_lambda);
  options->ltm.sticky = absl::GetFlag(FLAGS_sticky);
  options->seed = absl::GetFlag(FLAGS_seed);
  options->name = absl::GetFlag(FLAGS_name);
  options->progress = &std::cerr;
  options->check_tokenizer = CheckTokenizer;
  return absl::OkStatus();
}

absl::Status ImportGguf() {
  formats::GgufImportOptions options;
  options.gguf_path = absl::GetFlag(FLAGS_gguf);
  RETURN_IF_ERROR(CommonImportOptions(&options));
  ASSIGN_OR_RETURN(const formats::ConversionSummary summary, formats::ImportGguf(options));
  PrintSummary("imported", summary);
  return absl::OkStatus();
}

absl::Status Import() {
  formats::ImportOptions options;
  options.hf_dir = absl::GetFlag(FLAGS_hf_dir);
  RETURN_IF_ERROR(CommonImportOptions(&options));
  ASSIGN_OR_RETURN(const formats::ConversionSummary summary, formats::ImportHfCheckpoint(options));
  PrintSummary("imported", summary);
  return absl::OkStatus();
}

absl::Status Export() {
  formats::ExportOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model_dir);
  options.out_dir = absl::GetFlag(FLAGS_out);
  if (options.model_dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  options.progress = &std::cerr;
  ASSIGN_OR_RETURN(const formats::ConversionSummary summary, formats::ExportHfCheckpoint(options));
  PrintSummary("exported", summary);
  return absl::OkStatus();
}

}  // namespace
}  // namespace infmem

int main(int argc, char** argv) {
  infmem::InitFlagsHelp(
      "infmem-convert --hf_dir=DIR | --gguf=FILE --out=OUT --memory=full|window|infinite, or "
      "--to_hf --model_dir=DIR --out=HF_DIR: converts Hugging Face LLaMA-family checkpoints "
      "and GGUF files.",
      argc, argv);
  absl::ParseCommandLine(argc, argv);
  const bool to_hf = absl::GetFlag(FLAGS_to_hf);
  const bool gguf = !absl::GetFlag(FLAGS_gguf).empty();
  if (!to_hf && absl::GetFlag(FLAGS_hf_dir).empty() == !gguf) {
    std::cerr << "usage: infmem-convert --hf_dir=DIR | --gguf=FILE --out=OUT "
                 "--memory=full|window|infinite [...]\n"
                 "       infmem-convert --to_hf --model_dir=DIR --out=HF_DIR\n";
    return 1;
  }
  const absl::Status status = to_hf  ? infmem::Export()
                              : gguf ? infmem::ImportGguf()
                                     : infmem::Import();
  if (!status.ok()) {
    std::cerr << "infmem-convert: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
