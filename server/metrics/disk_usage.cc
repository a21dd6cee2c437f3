#include "server/metrics/disk_usage.h"

#include <sys/statvfs.h>

namespace infmem::metrics {
namespace {

prometheus::MetricFamily Gauge(const char* name, const char* help, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> DiskUsage::Collect() const {
  struct statvfs s;
  if (statvfs(path_.c_str(), &s) != 0) return {};
  const double block = static_cast<double>(s.f_frsize);
  return {Gauge("infmem_session_dir_available_bytes",
                "Bytes available to the server on the session directory's file system.",
                static_cast<double>(s.f_bavail) * block),
          Gauge("infmem_session_dir_capacity_bytes",
                "Size of the session directory's file system in bytes.",
                static_cast<double>(s.f_blocks) * block)};
}

}  // namespace infmem::metrics
