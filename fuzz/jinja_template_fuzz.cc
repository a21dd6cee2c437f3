// Fuzzes the chat-template engine: the input is a Jinja template, parsed and, when it parses,
// rendered with a small conversation under tight output and step limits. Syntax and runtime
// errors are fine; crashes, hangs, leaks and sanitizer reports are not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"
#include "server/tokenizer/jinja_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  auto parsed = infmem::tokenizer::JinjaTemplate::Parse(source);
  if (!parsed.ok()) return 0;
  static const auto* variables = new nlohmann::ordered_json(nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                 {"role": "assistant", "content": "<think>x</think>ok", "tool_calls": [
                   {"function": {"name": "f", "arguments": {"a": 1.5}}}]}],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})"));
  infmem::tokenizer::JinjaTemplate::RenderOptions options;
  options.max_output_bytes = 1 << 16;
  options.max_steps = 20000;
  options.now = [] { return absl::UnixEpoch(); };
  (void)(*parsed)->Render(*variables, options);
  return 0;
}
