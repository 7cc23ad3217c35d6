#include "services/orgdata/writer.h"

#include "libs/store/store.h"

namespace pulse::orgdata {

std::function<absl::Status(SQLite::Database&)> Writer::Precondition() const {
  const migrate::RevisionGate* gate = gate_;
  return [gate](SQLite::Database& db) { return gate->Check(db); };
}

absl::StatusOr<std::unique_ptr<SQLite::Database>>
Writer::OpenImportConnection() {
  store::OpenOptions open;
  open.create = false;
  return store::Open(db_path_, open);
}

absl::StatusOr<write::WriteSummary> Writer::ApplyChanges(
    const std::vector<write::Change>& changes, bool validate_only) {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) {
    auto db = OpenImportConnection();
    if (!db.ok()) return db.status();
    db_ = *std::move(db);
  }
  return write::ApplyChanges(*db_, changes, validate_only, Precondition());
}

absl::StatusOr<write::WriteSummary> Writer::FinishImport(
    write::Importer& importer) {
  absl::MutexLock lock(&mu_);
  return importer.Finish();
}

}  // namespace pulse::orgdata
