// model-demo: loads a model directory, appends a prompt and greedily generates a
// continuation, printing tokens as they come. A smoke test of the model core by hand:
//   model-demo --model_dir=build/tiny-model --prompt="the cat" --max_tokens=32
#include <chrono>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "server/common/flags_help.h"
#include "server/model/config.h"
#include "server/model/model.h"
#include "server/model/sampler.h"
#include "server/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, model_dir, "models/brown-lm", "Model directory to load.");
ABSL_FLAG(std::string, prompt, "The", "Text appended before generating.");
ABSL_FLAG(int, max_tokens, 32, "Tokens to generate.");
ABSL_FLAG(std::string, device, "auto", "cpu, cuda, cuda:N or auto.");
ABSL_FLAG(int, threads, 0, "CPU threads for the model (0 = all cores).");
ABSL_FLAG(double, temperature, 0.0, "Sampling temperature (0 = greedy).");
ABSL_FLAG(double, top_p, 1.0, "Nucleus sampling mass (1 = off).");
ABSL_FLAG(double, repetition_penalty, 1.0, "Repetition penalty (1 = off).");
ABSL_FLAG(uint64_t, seed, 1, "Sampling and session seed.");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "model-demo: " << status << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  infmem::InitFlagsHelp("model-demo --model_dir=DIR --prompt=TEXT: generates from a model.", argc,
                        argv);
  absl::ParseCommandLine(argc, argv);
  using infmem::model::Model;
  const std::string dir = absl::GetFlag(FLAGS_model_dir);
  auto model =
      Model::Load(dir, {absl::GetFlag(FLAGS_device), "float32", absl::GetFlag(FLAGS_threads)});
  if (!model.ok()) return Fail(model.status());
  const infmem::model::ModelConfig& config = (*model)->config();
  auto tok = infmem::tokenizer::MakeTokenizer(config.tokenizer.kind, dir, config.tokenizer.file,
                                              config.vocab_size);
  if (!tok.ok()) return Fail(tok.status());
  auto ids = (*tok)->Encode(absl::GetFlag(FLAGS_prompt));
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty()) return Fail(absl::InvalidArgumentError("the prompt encodes to no tokens"));
  std::cerr << "model " << dir << " (" << (*model)->ParameterCount() << " parameters, memory "
            << infmem::model::MemoryModeName(config.memory) << ", device " << (*model)->device()
            << ", state " << (*model)->StateBytes() << " bytes)\n";

  auto session = (*model)->NewSession(absl::GetFlag(FLAGS_seed));
  const auto start = std::chrono::steady_clock::now();
  // A session starts with BOS, as every training document did.
  std::vector<int32_t> input = *ids;
  if (config.bos_id >= 0) input.insert(input.begin(), config.bos_id);
  auto logits = (*model)->Prefill(*session, input);
  if (!logits.ok()) return Fail(logits.status());
  infmem::model::SamplingParams params;
  params.temperature = absl::GetFlag(FLAGS_temperature);
  params.top_p = absl::GetFlag(FLAGS_top_p);
  params.repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  params.seed = absl::GetFlag(FLAGS_seed);
  if (auto s = infmem::model::ValidateSamplingParams(params); !s.ok()) return Fail(s);
  infmem::model::Sampler sampler(params);
  std::vector<int32_t> history = *ids;
  std::cout << absl::GetFlag(FLAGS_prompt) << std::flush;
  for (int i = 0; i < absl::GetFlag(FLAGS_max_tokens); ++i) {
    const int32_t next = sampler.Sample(*logits, history);
    if (next == config.eos_id) break;
    history.push_back(next);
    auto text = (*tok)->TokenText(next);
    if (!text.ok()) return Fail(text.status());
    std::cout << *text << std::flush;
    infmem::model::SessionState* batch[] = {session.get()};
    logits = (*model)->DecodeStep(batch, {next});
    if (!logits.ok()) return Fail(logits.status());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "\n";
  std::cerr << session->tokens_seen() << " tokens in " << secs << " s\n";
  return 0;
}
