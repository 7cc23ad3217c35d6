#include "libs/migrate/authoring.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace pulse::migrate {
namespace {

std::string Slug(absl::string_view message) {
  std::string slug;
  for (char c : message) {
    if (absl::ascii_isalnum(c)) {
      slug.push_back(absl::ascii_tolower(c));
    } else if (!slug.empty() && slug.back() != '_') {
      slug.push_back('_');
    }
    if (slug.size() >= 40) break;
  }
  while (!slug.empty() && slug.back() == '_') slug.pop_back();
  return slug;
}

std::string FreshId(const RevisionGraph& graph) {
  absl::BitGen gen;
  while (true) {
    std::string id = absl::StrFormat(
        "%012x", absl::Uniform<uint64_t>(gen, 0, uint64_t{1} << 48));
    if (graph.Find(id) == nullptr) return id;
  }
}

absl::StatusOr<std::string> Write(const std::string& dir,
                                  const RevisionGraph& graph,
                                  absl::string_view message,
                                  const std::vector<std::string>& parents) {
  std::string description(absl::StripAsciiWhitespace(message));
  if (description.empty() || description.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError(
        "a one-line message is required: -m \"what the revision does\"");
  }
  const std::string id = FreshId(graph);
  const std::string path =
      absl::StrCat(dir, "/", id, "_", Slug(description), ".sql");
  const std::string text = absl::StrCat(
      "-- revision: ", id, "\n-- down_revision: ",
      parents.empty() ? "none" : absl::StrJoin(parents, ", "),
      "\n-- description: ", description, "\n-- +upgrade\n\n-- +downgrade\n");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  const ssize_t written = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size())) {
    ::unlink(path.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  return path;
}

}  // namespace

absl::StatusOr<std::string> WriteNewRevision(const std::string& dir,
                                             const RevisionGraph& graph,
                                             absl::string_view message) {
  if (graph.heads().size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the migrations have ", graph.heads().size(), " heads (",
        absl::StrJoin(graph.heads(), ", "), "): merge them first"));
  }
  return Write(dir, graph, message, graph.heads());
}

absl::StatusOr<std::string> WriteMergeRevision(const std::string& dir,
                                               const RevisionGraph& graph,
                                               absl::string_view message) {
  if (graph.heads().size() < 2) {
    return absl::InvalidArgumentError(
        "there is only one head: nothing to merge");
  }
  return Write(dir, graph, message, graph.heads());
}

}  // namespace pulse::migrate
