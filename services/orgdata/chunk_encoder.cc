#include "services/orgdata/chunk_encoder.h"

#include <cstdint>
#include <memory>
#include <utility>

namespace pulse::orgdata {
namespace {

// Wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

constexpr uint32_t Tag(uint32_t field, uint32_t wire_type) {
  return (field << 3) | wire_type;
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Field sizes as protobuf counts them (tags here all fit one byte;
// negative int32/int64 values take ten bytes, as sign-extended varints).
size_t IntField(int64_t v) { return 1 + VarintSize(static_cast<uint64_t>(v)); }
size_t StringField(size_t length) { return 1 + VarintSize(length) + length; }

void PutInt(uint32_t field, int64_t v, std::string* out) {
  out->push_back(static_cast<char>(Tag(field, kVarint)));
  PutVarint(static_cast<uint64_t>(v), out);
}

void PutString(uint32_t field, const std::string& s, std::string* out) {
  out->push_back(static_cast<char>(Tag(field, kLengthDelimited)));
  PutVarint(s.size(), out);
  out->append(s);
}

}  // namespace

void ChunkEncoder::Add(const hierarchy::Employee& e) {
  // proto3: implicit-presence fields are left out at their zero value;
  // `optional` ones are written whenever set.
  size_t size = 0;
  if (e.id != 0) size += IntField(e.id);
  if (e.manager_id) size += IntField(*e.manager_id);
  if (e.depth != 0) size += IntField(e.depth);
  if (!e.full_name.empty()) size += StringField(e.full_name.size());
  if (!e.title.empty()) size += StringField(e.title.size());
  if (!e.email.empty()) size += StringField(e.email.size());
  if (e.department_id) size += IntField(*e.department_id);
  if (!e.hire_date.empty()) size += StringField(e.hire_date.size());
  if (e.notes) size += StringField(e.notes->size());
  if (e.direct_reports) size += IntField(*e.direct_reports);

  bytes_.push_back(static_cast<char>(Tag(1, kLengthDelimited)));
  PutVarint(size, &bytes_);
  if (e.id != 0) PutInt(1, e.id, &bytes_);
  if (e.manager_id) PutInt(2, *e.manager_id, &bytes_);
  if (e.depth != 0) PutInt(3, e.depth, &bytes_);
  if (!e.full_name.empty()) PutString(4, e.full_name, &bytes_);
  if (!e.title.empty()) PutString(5, e.title, &bytes_);
  if (!e.email.empty()) PutString(6, e.email, &bytes_);
  if (e.department_id) PutInt(7, *e.department_id, &bytes_);
  if (!e.hire_date.empty()) PutString(8, e.hire_date, &bytes_);
  if (e.notes) PutString(9, *e.notes, &bytes_);
  if (e.direct_reports) PutInt(10, *e.direct_reports, &bytes_);
  ++nodes_;
}

grpc::ByteBuffer ChunkEncoder::Finish(
    bool truncated, const std::vector<std::string>& schema_revisions) {
  if (truncated) PutInt(2, 1, &bytes_);
  for (const std::string& r : schema_revisions) PutString(3, r, &bytes_);
  // The slice takes the string's buffer; gRPC frees it once sent.
  auto* owned = new std::string(std::move(bytes_));
  bytes_.clear();
  bytes_.reserve(owned->size());
  nodes_ = 0;
  grpc::Slice slice(
      owned->data(), owned->size(),
      [](void* s) { delete static_cast<std::string*>(s); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace pulse::orgdata
