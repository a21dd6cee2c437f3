#include "server/metrics/disk_usage.h"

#include <gtest/gtest.h>

namespace infmem::metrics {
namespace {

TEST(DiskUsageTest, ReportsTheFileSystemOfTheSessionDirectory) {
  const std::vector<prometheus::MetricFamily> families = DiskUsage(::testing::TempDir()).Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "infmem_session_dir_available_bytes");
  EXPECT_EQ(families[1].name, "infmem_session_dir_capacity_bytes");
  const double available = families[0].metric.at(0).gauge.value;
  const double capacity = families[1].metric.at(0).gauge.value;
  EXPECT_GT(capacity, 0);
  EXPECT_GE(available, 0);
  EXPECT_LE(available, capacity);
  EXPECT_EQ(families[0].type, prometheus::MetricType::Gauge);
}

TEST(DiskUsageTest, AMissingDirectoryReportsNothingRatherThanZero) {
  EXPECT_TRUE(DiskUsage("/nonexistent/infmem/sessions").Collect().empty());
}

}  // namespace
}  // namespace infmem::metrics
