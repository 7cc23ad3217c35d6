// ChunkEncoder writes exactly the bytes protobuf's own serializer writes
// for the same SubtreeChunk.

#include "services/orgdata/chunk_encoder.h"

#include <limits>
#include <random>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "pulse/orgdata/v1/orgdata.pb.h"

namespace pulse::orgdata {
namespace {

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Every field present and absent, zero, negative, huge, empty and long.
hierarchy::Employee Random(std::mt19937_64& rng) {
  auto pick = [&](std::vector<int64_t> values) {
    return values[rng() % values.size()];
  };
  const std::vector<int64_t> ints = {0,
                                     1,
                                     127,
                                     128,
                                     300,
                                     -1,
                                     std::numeric_limits<int64_t>::max(),
                                     std::numeric_limits<int64_t>::min()};
  auto text = [&] {
    return std::string(pick({0, 1, 15, 16, 127, 128, 20000}),
                       static_cast<char>('a' + rng() % 26));
  };
  hierarchy::Employee e;
  e.id = pick(ints);
  if (rng() % 2) e.manager_id = pick(ints);
  e.depth = static_cast<int32_t>(pick({0, 1, 2, 300, -1, -7}));
  e.full_name = text();
  e.title = text();
  e.email = text();
  if (rng() % 2) e.department_id = pick(ints);
  e.hire_date = text();
  if (rng() % 2) e.notes = text();
  if (rng() % 2) e.direct_reports = pick(ints);
  return e;
}

// What protobuf's own code makes of the employee: the oracle for the
// encoder (and so for ToProto, which parses the encoder's bytes), written
// with the generated setters.
v1::Employee Expected(const hierarchy::Employee& e) {
  v1::Employee out;
  out.set_id(e.id);
  if (e.manager_id) out.set_manager_id(*e.manager_id);
  out.set_depth(e.depth);
  out.set_full_name(e.full_name);
  out.set_title(e.title);
  out.set_email(e.email);
  if (e.department_id) out.set_department_id(*e.department_id);
  out.set_hire_date(e.hire_date);
  if (e.notes) out.set_notes(*e.notes);
  if (e.direct_reports) out.set_direct_reports(*e.direct_reports);
  return out;
}

// An employee with every field the server has set to a value other than
// its default.
hierarchy::Employee EveryFieldSet() {
  hierarchy::Employee e;
  e.id = 7;
  e.manager_id = 3;
  e.depth = 2;
  e.full_name = "Ada Lovelace";
  e.title = "Analyst";
  e.email = "ada@example.com";
  e.department_id = 5;
  e.hire_date = "1842-01-01";
  e.notes = "notes";
  e.direct_reports = 4;
  e.outside_filter = true;
  return e;
}

TEST(ChunkEncoderTest, WritesWhatProtobufWrites) {
  std::mt19937_64 rng(7);
  ChunkEncoder encoder;
  for (int round = 0; round < 50; ++round) {
    v1::SubtreeChunk expected;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      const hierarchy::Employee e = Random(rng);
      encoder.Add(e);
      *expected.add_nodes() = Expected(e);
      v1::Employee converted;
      ToProto(e, &converted);
      EXPECT_EQ(converted.SerializeAsString(), Expected(e).SerializeAsString());
    }
    EXPECT_EQ(encoder.nodes(), n);
    const bool truncated = rng() % 2;
    std::vector<std::string> revisions;
    if (rng() % 2) revisions = {"a1c3f0d2b7e4", "", "3c9e1f7a2b50"};
    expected.set_truncated(truncated);
    for (const std::string& r : revisions) expected.add_schema_revisions(r);
    const std::string snapshot = rng() % 2 ? "9a027b47166046a7.42" : "";
    const std::string cursor =
        rng() % 2 ? "c1/9a027b47166046a7.42/1/0/0/0/7" : "";
    expected.set_snapshot(snapshot);
    expected.set_next_cursor(cursor);
    const std::string bytes =
        Bytes(encoder.Finish(truncated, revisions, snapshot, cursor));
    EXPECT_EQ(bytes, expected.SerializeAsString()) << "round " << round;
    v1::SubtreeChunk parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    EXPECT_EQ(parsed.nodes_size(), n);
    EXPECT_EQ(encoder.nodes(), 0);
  }
}

TEST(ChunkEncoderTest, AChunkKeepsItsBytesWhileGrpcHoldsIt) {
  // Chunks of streams begun one after the other (each a new encoder, as
  // each stream has), some still held by gRPC and some let go, keep their
  // own bytes.
  std::mt19937_64 rng(11);
  std::vector<std::pair<grpc::ByteBuffer, std::string>> held;
  for (int stream = 0; stream < 40; ++stream) {
    ChunkEncoder encoder;
    v1::SubtreeChunk expected;
    for (int i = 0; i < 3; ++i) {
      hierarchy::Employee e;
      e.id = static_cast<int64_t>(rng() % 1000000) + 1;
      e.full_name =
          std::string(1 + rng() % 40, static_cast<char>('a' + stream % 26));
      encoder.Add(e);
      *expected.add_nodes() = Expected(e);
    }
    held.emplace_back(encoder.Finish(false, {}), expected.SerializeAsString());
    if (stream % 3 == 0) held.erase(held.begin());  // gRPC is done with it.
  }
  for (const auto& [buffer, bytes] : held) EXPECT_EQ(Bytes(buffer), bytes);
}

TEST(ChunkEncoderTest, EveryFieldOfEmployeeInTheProtoIsEncoded) {
  // An employee with every field the server has set to a value other than
  // its default: each field of pulse.orgdata.v1.Employee must then arrive
  // set, through the encoder and through ToProto alike. A field added to
  // the proto and not to the server fails here, by name.
  const hierarchy::Employee e = EveryFieldSet();
  ChunkEncoder encoder;
  encoder.Add(e);
  v1::SubtreeChunk encoded;
  ASSERT_TRUE(encoded.ParseFromString(Bytes(encoder.Finish(false, {}))));
  ASSERT_EQ(encoded.nodes_size(), 1);
  v1::Employee converted;
  ToProto(e, &converted);
  const google::protobuf::Descriptor* d = v1::Employee::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    EXPECT_TRUE(encoded.nodes(0).GetReflection()->HasField(encoded.nodes(0), f))
        << "the chunk encoder does not write Employee." << f->name();
    EXPECT_TRUE(converted.GetReflection()->HasField(converted, f))
        << "ToProto does not set Employee." << f->name();
  }
}

TEST(ChunkEncoderTest, AReadMaskClearsEveryFieldItDoesNotName) {
  // For each field of pulse.orgdata.v1.Employee, a stream's read_mask
  // naming only that field: a row with every field set must arrive with
  // that field, the id, the manager and the filter marker, and nothing
  // else. A field added to the proto and not to EmployeeMask fails here,
  // by name.
  const hierarchy::Employee e = EveryFieldSet();
  const google::protobuf::Descriptor* d = v1::Employee::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* named = d->field(i);
    google::protobuf::FieldMask read_mask;
    read_mask.add_paths(named->name());
    auto mask = EmployeeMask::FromReadMask(read_mask, /*keep_manager=*/true);
    ASSERT_TRUE(mask.ok()) << mask.status();
    hierarchy::EmployeeView view = hierarchy::ViewOf(e);
    mask->Apply(view);
    ChunkEncoder encoder;
    encoder.Add(view);
    v1::SubtreeChunk chunk;
    ASSERT_TRUE(chunk.ParseFromString(Bytes(encoder.Finish(false, {}))));
    ASSERT_EQ(chunk.nodes_size(), 1);
    const v1::Employee& sent = chunk.nodes(0);
    for (int j = 0; j < d->field_count(); ++j) {
      const google::protobuf::FieldDescriptor* f = d->field(j);
      const bool always =
          f->number() == v1::Employee::kIdFieldNumber ||
          f->number() == v1::Employee::kManagerIdFieldNumber ||
          f->number() == v1::Employee::kOutsideFilterFieldNumber;
      EXPECT_EQ(sent.GetReflection()->HasField(sent, f), always || f == named)
          << "read_mask [" << named->name() << "]: Employee." << f->name();
    }
  }
}

}  // namespace
}  // namespace pulse::orgdata
