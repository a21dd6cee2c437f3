// TLS and mutual TLS on the real server, with certificates made by openssl at test time; the
// CLI's TLS flags against the same server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "server/common/file_io.h"
#include "tests/integration/integration_env.h"

namespace infmem::testing {
namespace {

class TlsTest : public ServerTest {
 protected:
  // Makes two CAs ("ca", "other") and certificates signed by them: the server's for
  // 127.0.0.1, "client" by ca, "stranger" by other.
  static void SetUpTestSuite() {
    // One directory per process: ctest runs this suite's tests in parallel processes.
    certs_ = new std::string(absl::StrCat(::testing::TempDir(), "/tls_certs_", getpid()));
    std::filesystem::remove_all(*certs_);
    std::filesystem::create_directories(*certs_);
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script = absl::StrCat("set -e; cd ", *certs_, "; exec 2>openssl.log; ");
    for (const char* ca : {"ca", "other"}) {
      absl::StrAppend(&script, "openssl req -x509 ", key, " -keyout ", ca, ".key -out ", ca,
                      ".pem -days 2 -subj /CN=", ca, "; ");
    }
    const std::pair<const char*, const char*> leaves[] = {
        {"server", "ca"}, {"client", "ca"}, {"stranger", "other"}};
    for (const auto& [name, ca] : leaves) {
      absl::StrAppend(&script, "openssl req ", key, " -keyout ", name, ".key -out ", name,
                      ".csr -subj /CN=", name, "; printf 'subjectAltName=IP:127.0.0.1' > ", name,
                      ".ext; openssl x509 -req -in ", name, ".csr -CA ", ca, ".pem -CAkey ", ca,
                      ".key -CAcreateserial -days 2 -out ", name, ".pem -extfile ", name, ".ext; ");
    }
    ASSERT_EQ(std::system(("bash -c '" + script + "'").c_str()), 0) << "openssl failed";
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    delete certs_;
  }

  static std::string Pem(const std::string& name) { return ReadFile(*certs_ + "/" + name).value(); }
  static std::string Path(const std::string& name) { return *certs_ + "/" + name; }

  // Returns the status of a GetModel call over TLS trusting `ca`, as client `client` (empty:
  // no client certificate).
  grpc::Status TlsPing(const ServerProcess& server, const std::string& ca,
                       const std::string& client = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem(ca + ".pem");
    if (!client.empty()) {
      options.pem_cert_chain = Pem(client + ".pem");
      options.pem_private_key = Pem(client + ".key");
    }
    auto stub =
        v1::Infmem::NewStub(grpc::CreateChannel(server.address(), grpc::SslCredentials(options)));
    return Ping(*stub);
  }
  // Returns the exit code of the CLI's health command with `flags`.
  int CliHealth(const ServerProcess& server, const std::string& flags) {
    const std::string command =
        absl::StrCat(INFMEM_CLI_BINARY, " health --timeout=5 --server=", server.address(), " ",
                     flags, " >/dev/null 2>&1");
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static std::string* certs_;
};

std::string* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, ATlsServerServesTlsClientsAndRefusesPlaintextAndStrangers) {
  auto server =
      StartServer({"--tls_cert=" + Path("server.pem"), "--tls_key=" + Path("server.key")});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(TlsPing(*server, "ca").ok());
  EXPECT_EQ(Ping(*server->NewStub()).error_code(), grpc::UNAVAILABLE);   // plaintext
  EXPECT_EQ(TlsPing(*server, "other").error_code(), grpc::UNAVAILABLE);  // wrong CA
  EXPECT_EQ(CliHealth(*server, "--tls_ca=" + Path("ca.pem")), 0);
  EXPECT_EQ(CliHealth(*server, ""), 24);  // UNAVAILABLE
}

TEST_F(TlsTest, MutualTlsServesOnlyClientsWithACertificateOfItsCa) {
  auto server = StartServer({"--tls_cert=" + Path("server.pem"), "--tls_key=" + Path("server.key"),
                             "--tls_client_ca=" + Path("ca.pem")});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(TlsPing(*server, "ca", "client").ok());
  EXPECT_EQ(TlsPing(*server, "ca").error_code(), grpc::UNAVAILABLE);              // no cert
  EXPECT_EQ(TlsPing(*server, "ca", "stranger").error_code(), grpc::UNAVAILABLE);  // other CA
  EXPECT_EQ(CliHealth(*server, absl::StrCat("--tls_ca=", Path("ca.pem"), " --tls_cert=",
                                            Path("client.pem"), " --tls_key=", Path("client.key"))),
            0);
  EXPECT_NE(CliHealth(*server, "--tls_ca=" + Path("ca.pem")), 0);
}

TEST_F(TlsTest, TheCliSendsItsTokenOverTlsOnly) {
  std::ofstream(dir_ + "/tokens") << "alice alice-token-0123456789\n";
  auto server = StartServer({"--tls_cert=" + Path("server.pem"), "--tls_key=" + Path("server.key"),
                             "--auth_tokens=" + dir_ + "/tokens"});
  ASSERT_NE(server, nullptr);
  auto model = [&](const std::string& flags) {
    const std::string command =
        absl::StrCat(INFMEM_CLI_BINARY, " model --timeout=5 --server=", server->address(), " ",
                     flags, " >/dev/null 2>&1");
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string tls = "--tls_ca=" + Path("ca.pem");
  EXPECT_EQ(model(tls + " --token=alice-token-0123456789"), 0);
  EXPECT_EQ(model(tls + " --token=wrong-token-0123456789"), 26);  // UNAUTHENTICATED
  EXPECT_EQ(model(tls), 26);
  EXPECT_EQ(model("--token=alice-token-0123456789"), 13);  // refused in plaintext
  EXPECT_EQ(CliHealth(*server, tls), 0);                   // health needs no token (probes)
}

TEST_F(TlsTest, AnIncompleteTlsConfigurationStopsTheServerWithAClearError) {
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--tls_cert=" + Path("server.pem")},
           {"--tls_client_ca=" + Path("ca.pem")},
           {"--tls_cert=" + Path("server.pem"), "--tls_key=" + Path("missing.key")}}) {
    std::vector<std::string> args = {"--model_dir=" + ModelDir(), "--session_dir=" + dir_ + "/s"};
    args.insert(args.end(), flags.begin(), flags.end());
    EXPECT_FALSE(ServerProcess::Start(ServerBinary(), args).ok()) << flags[0];
  }
}

}  // namespace
}  // namespace infmem::testing
