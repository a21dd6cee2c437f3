// Every service method, message, field and enum value of the public API carries a comment:
// the .proto is the API's reference documentation.
#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace infmem {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::SourceLocation;

class ErrorCollector : public google::protobuf::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column,
                const std::string& message) override {
    errors.push_back(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                     message);
  }
  std::vector<std::string> errors;
};

template <typename D>
bool Documented(const D* d) {
  SourceLocation loc;
  return d->GetSourceLocation(&loc) &&
         (!loc.leading_comments.empty() || !loc.trailing_comments.empty());
}

void CheckMessage(const Descriptor* m, std::vector<std::string>& missing) {
  // Request and response messages are documented by their method; their fields must be.
  for (int i = 0; i < m->field_count(); ++i) {
    if (!Documented(m->field(i))) missing.push_back(m->field(i)->full_name());
  }
  for (int i = 0; i < m->nested_type_count(); ++i) CheckMessage(m->nested_type(i), missing);
}

TEST(ApiDocsTest, EveryMethodFieldAndEnumValueIsDocumented) {
  google::protobuf::compiler::DiskSourceTree tree;
  tree.MapPath("", std::string(INFMEM_SOURCE_DIR) + "/proto");
  ErrorCollector errors;
  google::protobuf::compiler::Importer importer(&tree, &errors);
  const FileDescriptor* file = importer.Import("infmem/v1/infmem.proto");
  ASSERT_NE(file, nullptr) << (errors.errors.empty() ? "" : errors.errors[0]);
  EXPECT_EQ(file->package(), "infmem.v1");
  std::vector<std::string> missing;
  for (int s = 0; s < file->service_count(); ++s) {
    for (int i = 0; i < file->service(s)->method_count(); ++i) {
      if (!Documented(file->service(s)->method(i))) {
        missing.push_back(file->service(s)->method(i)->full_name());
      }
    }
  }
  for (int i = 0; i < file->message_type_count(); ++i) CheckMessage(file->message_type(i), missing);
  for (int e = 0; e < file->enum_type_count(); ++e) {
    for (int i = 0; i < file->enum_type(e)->value_count(); ++i) {
      const auto* v = file->enum_type(e)->value(i);
      if (v->number() != 0 && !Documented(v)) missing.push_back(v->full_name());
    }
  }
  std::string list;
  for (const std::string& m : missing) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << "undocumented in infmem.proto:" << list;
}

}  // namespace
}  // namespace infmem
