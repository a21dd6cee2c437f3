// JinjaTemplate: a Jinja interpreter for chat templates, rendering as Hugging Face does
// (Python jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks,
// keep_trailing_newline off, loop controls, the {% generation %} tag, tojson as
// json.dumps(ensure_ascii=False), and the globals raise_exception and strftime_now).
//
// Supported: {{ }}, {% %}, {# #} with -/+ whitespace control; if/elif/else; for (tuple targets,
// `if` filter, else, loop.*, loop.cycle), break/continue; set (names, tuples, namespace
// attributes, blocks); macro; filter blocks; generation. Expressions: literals, lists, dicts,
// tuples, attribute/item access, slices with steps, calls with keyword arguments, filters,
// tests, arithmetic, comparisons, `in`, and/or/not, conditional expressions, `~`.
// Filters, tests, string/dict methods and globals: see jinja_template.cc. Anything else is a
// parse error naming the line. Lists and dicts cannot be modified (append, pop, ...), as in
// Hugging Face's sandbox.
// Thread-safety: immutable after Parse; Render may run concurrently.
#ifndef INFMEM_SERVER_TOKENIZER_JINJA_TEMPLATE_H_
#define INFMEM_SERVER_TOKENIZER_JINJA_TEMPLATE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace infmem::tokenizer {

namespace jinja {
struct Node;
}  // namespace jinja

class JinjaTemplate {
 public:
  struct RenderOptions {
    // The time strftime_now formats (local time is UTC here); injected so tests are hermetic.
    std::function<absl::Time()> now = [] { return absl::Now(); };
    int max_output_bytes = 16 << 20;  // a template that writes more fails
    int max_steps = 10'000'000;       // loop iterations and macro calls
  };

  // Parses `source`. InvalidArgument naming the line for a syntax error or an unsupported tag.
  static absl::StatusOr<std::unique_ptr<JinjaTemplate>> Parse(absl::string_view source);
  ~JinjaTemplate();

  // Renders with `variables` (a JSON object; its members become the template's globals).
  // InvalidArgument for a runtime error (undefined attribute, type error) naming the line;
  // FailedPrecondition carrying the message of a raise_exception() call.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& variables,
                                     const RenderOptions& options) const;
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& variables) const {
    return Render(variables, RenderOptions());
  }

 private:
  explicit JinjaTemplate(std::shared_ptr<const jinja::Node> root);
  std::shared_ptr<const jinja::Node> root_;
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_JINJA_TEMPLATE_H_
