#ifndef PULSE_SERVICES_CLIENT_RENDER_H_
#define PULSE_SERVICES_CLIENT_RENDER_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pulse/orgdata/v1/orgdata.pb.h"

namespace pulse::client {

enum class Format { kText, kDot, kJson };

// "text", "dot" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Format> ParseFormat(absl::string_view name);

// Appends `node` as protobuf prints it in JSON with proto field names
// (int64 values quoted, fields at their default left out), written
// directly: the reflection-based printer took most of a large tree's time.
void AppendJson(const pulse::orgdata::v1::Employee& node, std::string* out);

// Writes a subtree as it streams in, in depth-first pre-order: a box-drawn
// tree (nodes must carry direct_reports, so each line knows whether more
// siblings follow), Graphviz DOT with departments as colours, or one JSON
// object per line (protobuf's JSON for Employee, proto field names). Holds
// no more than the nodes added since the last Flush (the caller flushes
// after each chunk, so the tree is drawn as it arrives). Not thread-safe.
class TreeRenderer {
 public:
  // `max_depth` is the depth the stream was cut at (0: none), to show how
  // many reports lie below the cut.
  TreeRenderer(Format format, std::ostream* out, int max_depth);
  TreeRenderer(const TreeRenderer&) = delete;
  TreeRenderer& operator=(const TreeRenderer&) = delete;

  void Begin();
  void Add(const pulse::orgdata::v1::Employee& node);
  // Writes what was added to the stream and flushes it.
  void Flush();
  void End();

 private:
  void AddText(const pulse::orgdata::v1::Employee& node);
  void AddDot(const pulse::orgdata::v1::Employee& node);

  const Format format_;
  std::ostream* out_;
  // Lines added since the last Flush.
  std::string buffer_;
  const int max_depth_;
  // remaining_[d]: siblings still to come at depth d.
  std::vector<int64_t> remaining_;
  int64_t root_id_ = 0;
};

}  // namespace pulse::client

#endif  // PULSE_SERVICES_CLIENT_RENDER_H_
