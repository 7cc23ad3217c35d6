#include "services/client/render.h"

#include <sstream>

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace pulse::client {
namespace {

using pulse::orgdata::v1::Employee;

std::string ProtobufJson(const Employee& e) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(e, &json, options).ok());
  return json;
}

// The hand-written JSON is byte for byte what protobuf prints, for every
// field set or unset and for strings that need escaping.
TEST(RenderTest, JsonIsWhatProtobufPrints) {
  std::vector<Employee> nodes(3);
  nodes[0].set_id(1);
  Employee& all = nodes[1];
  all.set_id(4294967295);
  all.set_manager_id(7);
  all.set_depth(3);
  all.set_full_name(
      "Zo\xC3\xAB \"Q\" O'Neil \\ <b>&amp; \x01\x1f\x7f \xE2\x80\xA8");
  all.set_title("Line\nbreak\tand\rreturn\b\f");
  all.set_email("zoe@example.com");
  all.set_department_id(0);
  all.set_hire_date("2020-02-29");
  all.set_notes("");
  all.set_direct_reports(0);
  nodes[2].set_id(2);
  nodes[2].set_depth(-1);
  nodes[2].set_notes(
      "a/b \xC2\x85 \xC2\xAD \xEF\xBB\xBF \xF0\x9D\x85\xB3 "
      "\xF0\x9F\x98\x80 \xE2\x80\x8B \xD8\x80");
  for (const Employee& e : nodes) {
    std::string ours;
    AppendJson(e, &ours);
    EXPECT_EQ(ours, ProtobufJson(e)) << e.DebugString();
  }
}

TEST(RenderTest, ChunksAreWrittenOnFlushNotBefore) {
  std::ostringstream out;
  TreeRenderer renderer(Format::kJson, &out, 0);
  Employee e;
  e.set_id(1);
  renderer.Begin();
  renderer.Add(e);
  EXPECT_EQ(out.str(), "");
  renderer.Flush();
  EXPECT_EQ(out.str(), "{\"id\":\"1\"}\n");
}

}  // namespace
}  // namespace pulse::client
