#include "server/service/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace infmem::service {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] =
    "# tenants of the test\n"
    "alice 0123456789abcdef-alice\n"
    "\n"
    "bob   0123456789abcdef-bob-1\n"
    "bob 0123456789abcdef-bob-2   \n";

TEST(TokenAuthenticatorTest, TokensMapToTheirTenants) {
  auto auth = TokenAuthenticator::Parse(kFile, "tokens").value();
  EXPECT_EQ(auth->Authenticate("Bearer 0123456789abcdef-alice").value(), "alice");
  EXPECT_EQ(auth->Authenticate("Bearer 0123456789abcdef-bob-1").value(), "bob");
  EXPECT_EQ(auth->Authenticate("Bearer 0123456789abcdef-bob-2").value(), "bob");
}

TEST(TokenAuthenticatorTest, MissingMalformedAndUnknownTokensAreUnauthenticated) {
  auto auth = TokenAuthenticator::Parse(kFile, "tokens").value();
  for (const char* header :
       {"", "0123456789abcdef-alice", "Basic 0123456789abcdef-alice",
        "Bearer 0123456789abcdef-alicX", "Bearer ", "bearer x", "Bearer 0123456789abcdef-alice "}) {
    EXPECT_EQ(auth->Authenticate(header).status().code(), absl::StatusCode::kUnauthenticated)
        << header;
  }
}

// Same-length wrong tokens differing from a real one at each single position: a comparison
// that looked at only some of the bytes (the last, the first, every other) lets one through.
TEST(TokenAuthenticatorTest, ATokenWrongInAnyOneByteIsRefused) {
  auto auth = TokenAuthenticator::Parse(kFile, "tokens").value();
  const std::string good = "0123456789abcdef-alice";
  for (size_t i = 0; i < good.size(); ++i) {
    std::string wrong = good;
    wrong[i] = wrong[i] == 'x' ? 'y' : 'x';
    EXPECT_EQ(auth->Authenticate("Bearer " + wrong).status().code(),
              absl::StatusCode::kUnauthenticated)
        << "differs at " << i;
  }
  EXPECT_EQ(auth->Authenticate("Bearer " + good).value(), "alice");
}

TEST(TokenAuthenticatorTest, MalformedFilesAreRefusedNamingTheLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"alice\n", "tokens:1: expected"},
      {"alice 0123456789abcdef extra\n", "tokens:1: expected"},
      {"# ok\nal.ice 0123456789abcdef\n", "tokens:2: tenant"},
      {"alice short\n", "tokens:1: a token must be 16"},
      {"alice 0123456789abcdef\x01x\n", "tokens:1: a token must be printable"},
      {"alice 0123456789abcdef\nbob 0123456789abcdef\n", "tokens:2: this token is already"},
      {"# nothing\n\n", "tokens: no tokens"},
  };
  for (const auto& [text, error] : cases) {
    auto auth = TokenAuthenticator::Parse(text, "tokens");
    ASSERT_FALSE(auth.ok()) << text;
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(auth.status().message()), HasSubstr(error)) << text;
  }
  EXPECT_EQ(TokenAuthenticator::Load("/nonexistent/tokens").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infmem::service
