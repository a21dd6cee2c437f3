// FreePort: a TCP port on 127.0.0.1 that is free now, for servers that cannot be started on
// port 0 and report theirs (PostgreSQL, HAProxy, replicas named in HAProxy's config).
// Drawn at random below Linux's ephemeral range (32768-60999), which is where every port-0
// listener and outgoing connection of the other tests running in parallel gets its port, and
// checked by binding it; so a port handed out here is not taken by them meanwhile.
#ifndef INFMEM_TESTS_TESTING_FREE_PORT_H_
#define INFMEM_TESTS_TESTING_FREE_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

namespace infmem::testing {

inline int FreePort() {
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = pick(rng);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_FREE_PORT_H_
