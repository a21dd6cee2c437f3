#include "server/service/text_stream.h"

#include <gtest/gtest.h>

namespace infmem::service {
namespace {

TEST(TextStreamTest, TextPassesThroughAsItArrives) {
  TextStream s({});
  EXPECT_FALSE(s.Add(" The"));
  EXPECT_EQ(s.Take(), " The");
  EXPECT_FALSE(s.Add(" jury"));
  EXPECT_EQ(s.Take(), " jury");
  EXPECT_EQ(s.TakeRest(), "");
}

TEST(TextStreamTest, AStopSequenceCutsTheOutputAndIsNeverSent) {
  TextStream s({"\n\n", "END"});
  s.Add("Hello");
  EXPECT_EQ(s.Take(), "Hello");
  s.Add(" E");  // may start "END": held back
  EXPECT_EQ(s.Take(), " ");
  s.Add("N");
  EXPECT_EQ(s.Take(), "");
  EXPECT_TRUE(s.Add("Dless"));  // the stop spans three tokens
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.TakeRest(), "");
}

TEST(TextStreamTest, AHeldPrefixThatDoesNotBecomeAStopIsSent) {
  TextStream s({"END"});
  s.Add("the E");
  EXPECT_EQ(s.Take(), "the ");
  EXPECT_FALSE(s.Add("nd"));
  EXPECT_EQ(s.Take(), "End");
}

TEST(TextStreamTest, AStopInsideOneTokenKeepsWhatCameBefore) {
  TextStream s({"stop"});
  EXPECT_TRUE(s.Add("go stop go"));
  EXPECT_EQ(s.TakeRest(), "go ");
}

TEST(TextStreamTest, ACharacterSplitAcrossTokensWaitsForItsLastByte) {
  TextStream s({});
  s.Add("caf\xC3");  // é = C3 A9
  EXPECT_EQ(s.Take(), "caf");
  s.Add("\xA9!");
  EXPECT_EQ(s.Take(), "\xC3\xA9!");
}

TEST(TextStreamTest, InvalidBytesBecomeReplacementCharacters) {
  TextStream s({});
  s.Add(
      "a\xFF"
      "b\xC0\xAF"
      "c");  // a stray byte and an overlong encoding
  EXPECT_EQ(s.Take(),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD"
            "c");
  s.Add("\xE2\x82");  // an unfinished character at the end of the stream
  EXPECT_EQ(s.Take(), "");
  EXPECT_EQ(s.TakeRest(), "\xEF\xBF\xBD");
}

TEST(SanitizeUtf8Test, SurrogatesAndOutOfRangeCodePointsAreInvalid) {
  std::string out;
  EXPECT_EQ(AppendSanitizedUtf8("\xED\xA0\x80", true, &out), 3u);  // U+D800
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  out.clear();
  AppendSanitizedUtf8("\xF4\x90\x80\x80", true, &out);  // above U+10FFFF
  EXPECT_EQ(out.find("\xF4"), std::string::npos);
  out.clear();
  EXPECT_EQ(AppendSanitizedUtf8("\xF0\x9F\x98\x80", false, &out), 4u);  // U+1F600
  EXPECT_EQ(out, "\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace infmem::service
