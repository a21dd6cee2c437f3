// DiskUsage: the gauges infmem_session_dir_available_bytes and
// infmem_session_dir_capacity_bytes, read from statvfs of the session directory at each
// scrape, so the disk-nearly-full alert needs no node exporter. Owned by the Server and
// registered with the metrics endpoint. Thread-safe (stateless after construction).
#ifndef INFMEM_SERVER_METRICS_DISK_USAGE_H_
#define INFMEM_SERVER_METRICS_DISK_USAGE_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace infmem::metrics {

class DiskUsage : public prometheus::Collectable {
 public:
  explicit DiskUsage(std::string path) : path_(std::move(path)) {}

  // Returns both gauges, or none when the file system cannot be read.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string path_;
};

}  // namespace infmem::metrics

#endif  // INFMEM_SERVER_METRICS_DISK_USAGE_H_
