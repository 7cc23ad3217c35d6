#ifndef PULSE_SERVICES_ORGDATA_CHUNK_ENCODER_H_
#define PULSE_SERVICES_ORGDATA_CHUNK_ENCODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/field_mask.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/hierarchy/hierarchy.h"
#include "pulse/orgdata/v1/orgdata.pb.h"

namespace pulse::orgdata {

// The fields of Employee a request's read_mask keeps: every one for an
// empty mask; otherwise those named, id, and manager_id where the answer
// needs it (a stream's tree).
class EmployeeMask {
 public:
  // Keeps every field.
  EmployeeMask() = default;
  // INVALID_ARGUMENT naming a path that is not a field of Employee.
  static absl::StatusOr<EmployeeMask> FromReadMask(
      const google::protobuf::FieldMask& mask, bool keep_manager);

  // Clears the fields not kept.
  void Apply(hierarchy::EmployeeView& e) const;
  void Apply(v1::Employee& e) const;
  bool keeps_all() const { return keeps_all_; }

 private:
  bool Keeps(int field_number) const {
    return keeps_all_ || (kept_ >> field_number & 1) != 0;
  }
  bool keeps_all_ = true;
  // Bit n: the field numbered n.
  uint64_t kept_ = 0;
};

// The message form of a row, for the unary answers: the bytes ChunkEncoder
// writes for the row, parsed.
void ToProto(const hierarchy::Employee& e, v1::Employee* out);

// Writes a pulse.orgdata.v1.SubtreeChunk in the protobuf wire format
// straight from the rows a subtree read produces, with no message object
// per node: the bytes are those SubtreeChunk::SerializeAsString would give
// for the same fields. Not thread-safe.
class ChunkEncoder {
 public:
  ChunkEncoder() = default;
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Appends one node (SubtreeChunk.nodes).
  void Add(const hierarchy::EmployeeView& e);
  void Add(const hierarchy::Employee& e);
  int nodes() const { return nodes_; }
  // The chunk so far, ended with `truncated`, `schema_revisions`,
  // `snapshot` and `next_cursor` (each omitted when empty); the encoder is
  // empty again after.
  grpc::ByteBuffer Finish(bool truncated,
                          const std::vector<std::string>& schema_revisions,
                          const std::string& snapshot = "",
                          const std::string& next_cursor = "");

 private:
  // Room for `n` more bytes; returns where they go.
  char* Extend(size_t n);

  // The chunk's bytes so far (size_ of capacity_), handed to gRPC whole;
  // null until the chunk's first byte.
  std::unique_ptr<char[]> buffer_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  int nodes_ = 0;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_CHUNK_ENCODER_H_
