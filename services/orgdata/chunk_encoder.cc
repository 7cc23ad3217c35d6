#include "services/orgdata/chunk_encoder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

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

// Writers into a buffer already sized for what they write.
char* PutVarint(uint64_t v, char* out) {
  while (v >= 0x80) {
    *out++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

// Field sizes as protobuf counts them (tags here all fit one byte;
// negative int32/int64 values take ten bytes, as sign-extended varints).
size_t IntField(int64_t v) { return 1 + VarintSize(static_cast<uint64_t>(v)); }
size_t StringField(size_t length) { return 1 + VarintSize(length) + length; }

// A tag takes one byte for field numbers up to 15.
static_assert(v1::Employee::kDirectReportsFieldNumber <= 15 &&
                  v1::Employee::kOutsideFilterFieldNumber <= 15 &&
                  v1::Employee::kNotesFieldNumber <= 15 &&
                  v1::SubtreeChunk::kSchemaRevisionsFieldNumber <= 15,
              "the encoder writes one-byte tags");

char* PutInt(uint32_t field, int64_t v, char* out) {
  *out++ = static_cast<char>(Tag(field, kVarint));
  return PutVarint(static_cast<uint64_t>(v), out);
}

char* PutString(uint32_t field, absl::string_view s, char* out) {
  *out++ = static_cast<char>(Tag(field, kLengthDelimited));
  out = PutVarint(s.size(), out);
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

// The first chunk's buffer; later chunks start with the size of the last.
constexpr size_t kFirstBuffer = 4096;

// An Employee message's size and bytes: the one place that says how a row
// becomes an Employee. proto3: implicit-presence fields are left out at
// their zero value; `optional` ones are written whenever set.
size_t EmployeeSize(const hierarchy::EmployeeView& e) {
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
  if (e.outside_filter) size += IntField(1);
  return size;
}

char* PutEmployee(const hierarchy::EmployeeView& e, char* out) {
  if (e.id != 0) out = PutInt(v1::Employee::kIdFieldNumber, e.id, out);
  if (e.manager_id)
    out = PutInt(v1::Employee::kManagerIdFieldNumber, *e.manager_id, out);
  if (e.depth != 0) out = PutInt(v1::Employee::kDepthFieldNumber, e.depth, out);
  if (!e.full_name.empty())
    out = PutString(v1::Employee::kFullNameFieldNumber, e.full_name, out);
  if (!e.title.empty())
    out = PutString(v1::Employee::kTitleFieldNumber, e.title, out);
  if (!e.email.empty())
    out = PutString(v1::Employee::kEmailFieldNumber, e.email, out);
  if (e.department_id)
    out = PutInt(v1::Employee::kDepartmentIdFieldNumber, *e.department_id, out);
  if (!e.hire_date.empty())
    out = PutString(v1::Employee::kHireDateFieldNumber, e.hire_date, out);
  if (e.notes) out = PutString(v1::Employee::kNotesFieldNumber, *e.notes, out);
  if (e.direct_reports) {
    out =
        PutInt(v1::Employee::kDirectReportsFieldNumber, *e.direct_reports, out);
  }
  if (e.outside_filter) {
    out = PutInt(v1::Employee::kOutsideFilterFieldNumber, 1, out);
  }
  return out;
}

}  // namespace

absl::StatusOr<EmployeeMask> EmployeeMask::FromReadMask(
    const google::protobuf::FieldMask& mask, bool keep_manager) {
  EmployeeMask out;
  if (mask.paths().empty()) return out;
  out.keeps_all_ = false;
  // The marker of a connecting manager comes whenever it is set.
  out.kept_ = uint64_t{1} << v1::Employee::kIdFieldNumber |
              uint64_t{1} << v1::Employee::kOutsideFilterFieldNumber;
  if (keep_manager)
    out.kept_ |= uint64_t{1} << v1::Employee::kManagerIdFieldNumber;
  const google::protobuf::Descriptor* employee = v1::Employee::descriptor();
  for (const std::string& path : mask.paths()) {
    const google::protobuf::FieldDescriptor* field =
        employee->FindFieldByName(path);
    if (field == nullptr || field->number() >= 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("read_mask path '", path,
                       "' is not a field of pulse.orgdata.v1.Employee"));
    }
    out.kept_ |= uint64_t{1} << field->number();
  }
  return out;
}

void EmployeeMask::Apply(hierarchy::EmployeeView& e) const {
  if (keeps_all_) return;
  if (!Keeps(v1::Employee::kManagerIdFieldNumber)) e.manager_id.reset();
  if (!Keeps(v1::Employee::kDepthFieldNumber)) e.depth = 0;
  if (!Keeps(v1::Employee::kFullNameFieldNumber)) e.full_name = {};
  if (!Keeps(v1::Employee::kTitleFieldNumber)) e.title = {};
  if (!Keeps(v1::Employee::kEmailFieldNumber)) e.email = {};
  if (!Keeps(v1::Employee::kDepartmentIdFieldNumber)) e.department_id.reset();
  if (!Keeps(v1::Employee::kHireDateFieldNumber)) e.hire_date = {};
  if (!Keeps(v1::Employee::kNotesFieldNumber)) e.notes.reset();
  if (!Keeps(v1::Employee::kDirectReportsFieldNumber)) e.direct_reports.reset();
}

void EmployeeMask::Apply(v1::Employee& e) const {
  if (keeps_all_) return;
  const google::protobuf::Reflection* reflection = e.GetReflection();
  const google::protobuf::Descriptor* employee = e.GetDescriptor();
  for (int i = 0; i < employee->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = employee->field(i);
    if (!Keeps(field->number())) reflection->ClearField(&e, field);
  }
}

void ToProto(const hierarchy::Employee& e, v1::Employee* out) {
  const hierarchy::EmployeeView view = hierarchy::ViewOf(e);
  std::string bytes(EmployeeSize(view), '\0');
  PutEmployee(view, bytes.data());
  out->ParseFromString(bytes);
}

char* ChunkEncoder::Extend(size_t n) {
  if (buffer_ == nullptr || size_ + n > capacity_) {
    // The first chunk starts small; a later one with the size of the last.
    const size_t capacity = buffer_ == nullptr
                                ? std::max<size_t>({capacity_, n, kFirstBuffer})
                                : std::max<size_t>(2 * capacity_, size_ + n);
    std::unique_ptr<char[]> grown(new char[capacity]);  // Not zeroed.
    if (size_ > 0) std::memcpy(grown.get(), buffer_.get(), size_);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }
  char* at = buffer_.get() + size_;
  size_ += n;
  return at;
}

void ChunkEncoder::Add(const hierarchy::Employee& e) {
  Add(hierarchy::ViewOf(e));
}

void ChunkEncoder::Add(const hierarchy::EmployeeView& e) {
  const size_t size = EmployeeSize(e);
  char* out = Extend(1 + VarintSize(size) + size);
  *out++ = static_cast<char>(
      Tag(v1::SubtreeChunk::kNodesFieldNumber, kLengthDelimited));
  out = PutVarint(size, out);
  PutEmployee(e, out);
  ++nodes_;
}

grpc::ByteBuffer ChunkEncoder::Finish(
    bool truncated, const std::vector<std::string>& schema_revisions,
    const std::string& snapshot, const std::string& next_cursor) {
  size_t tail = truncated ? IntField(1) : 0;
  for (const std::string& r : schema_revisions) tail += StringField(r.size());
  if (!snapshot.empty()) tail += StringField(snapshot.size());
  if (!next_cursor.empty()) tail += StringField(next_cursor.size());
  char* out = Extend(tail);
  if (truncated) out = PutInt(v1::SubtreeChunk::kTruncatedFieldNumber, 1, out);
  for (const std::string& r : schema_revisions)
    out = PutString(v1::SubtreeChunk::kSchemaRevisionsFieldNumber, r, out);
  if (!snapshot.empty()) {
    out = PutString(v1::SubtreeChunk::kSnapshotFieldNumber, snapshot, out);
  }
  if (!next_cursor.empty()) {
    out = PutString(v1::SubtreeChunk::kNextCursorFieldNumber, next_cursor, out);
  }
  // The slice takes the buffer; gRPC frees it once sent. The next chunk
  // will start with room for as much (capacity_ is kept).
  const size_t size = size_;
  char* bytes = buffer_.release();
  if (bytes == nullptr) bytes = new char[1];  // An empty chunk.
  size_ = 0;
  nodes_ = 0;
  grpc::Slice slice(
      bytes, size, [](void* b) { delete[] static_cast<char*>(b); }, bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace pulse::orgdata
