#ifndef PULSE_SERVICES_ORGDATA_CHUNK_ENCODER_H_
#define PULSE_SERVICES_ORGDATA_CHUNK_ENCODER_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "libs/hierarchy/hierarchy.h"
#include "pulse/orgdata/v1/orgdata.pb.h"

namespace pulse::orgdata {

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
