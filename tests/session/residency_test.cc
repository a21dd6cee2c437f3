#include "server/session/residency.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace infmem::session {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ResidencyTest, EvictsLeastRecentlyUsedBeyondTheSessionBudget) {
  Residency r(2, 0);
  r.Touch("a", 10);
  r.Touch("b", 10);
  EXPECT_THAT(r.Victims(), IsEmpty());
  r.Touch("c", 10);
  EXPECT_THAT(r.Victims(), ElementsAre("a"));
  r.Touch("a", 10);  // used again: now b is the oldest
  EXPECT_THAT(r.Victims(), ElementsAre("b"));
  r.Remove("b");
  EXPECT_THAT(r.Victims(), IsEmpty());
  EXPECT_EQ(r.sessions(), 2);
  EXPECT_EQ(r.bytes(), 20);
}

TEST(ResidencyTest, EvictsUntilTheByteBudgetFits) {
  Residency r(0, 100);
  r.Touch("a", 60);
  r.Touch("b", 30);
  r.Touch("c", 50);  // 140 bytes: dropping a (60) suffices
  EXPECT_THAT(r.Victims(), ElementsAre("a"));
  r.Touch("d", 70);  // 210 bytes: a, b, c must go (70 left)
  EXPECT_THAT(r.Victims(), ElementsAre("a", "b", "c"));
}

TEST(ResidencyTest, PinnedSessionsAreNeverVictims) {
  Residency r(1, 0);
  r.Touch("a", 1);
  r.Touch("b", 1);
  r.Pin("a");
  r.Pin("a");
  EXPECT_THAT(r.Victims(), ElementsAre("b"));
  r.Pin("b");
  EXPECT_THAT(r.Victims(), IsEmpty());  // over budget until a pin is released
  r.Unpin("a");
  EXPECT_THAT(r.Victims(), IsEmpty());  // pins nest: a is still pinned once
  r.Unpin("a");
  EXPECT_THAT(r.Victims(), ElementsAre("a"));
}

TEST(ResidencyTest, ZeroBudgetsMeanUnlimitedAndUnknownIdsAreIgnored) {
  Residency r(0, 0);
  for (int i = 0; i < 1000; ++i) r.Touch("s" + std::to_string(i), 1 << 20);
  EXPECT_THAT(r.Victims(), IsEmpty());
  r.Remove("nope");
  r.Pin("nope");
  r.Unpin("nope");
  EXPECT_FALSE(r.Contains("nope"));
  EXPECT_TRUE(r.Contains("s7"));
  EXPECT_EQ(r.sessions(), 1000);
}

}  // namespace
}  // namespace infmem::session
