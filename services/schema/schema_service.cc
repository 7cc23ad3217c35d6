#include "services/schema/schema_service.h"

#include <algorithm>
#include <utility>

#include "libs/common/grpc_util.h"

namespace pulse::schema {
namespace {

constexpr int kDefaultHistoryLimit = 100;
constexpr int kMaxHistoryLimit = 10000;
// How often a watch wakes to notice a cancelled client.
constexpr absl::Duration kWatchWake = absl::Milliseconds(200);

}  // namespace

SchemaServiceImpl::SchemaServiceImpl(migrate::Migrator* migrator,
                                     RevisionMonitor* monitor,
                                     std::string admin_token)
    : migrator_(migrator),
      monitor_(monitor),
      admin_token_(std::move(admin_token)) {}

void SchemaServiceImpl::FillState(const migrate::RevisionState& state,
                                  v1::RevisionState* out) const {
  const auto& heads = migrator_->graph().heads();
  for (const std::string& id : state.current) out->add_current(id);
  for (const std::string& id : heads) out->add_heads(id);
  out->set_at_head(!heads.empty() && state.current == heads);
  out->set_migration_in_progress(state.migration_in_progress);
  out->set_migration_target(state.migration_target);
}

grpc::Status SchemaServiceImpl::GetRevision(grpc::ServerContext* context,
                                            const v1::GetRevisionRequest*,
                                            v1::RevisionState* response) {
  RequestLog log("GetRevision", *context);
  auto state = migrator_->GetState();
  if (!state.ok()) return log.Finish(ToGrpcStatus(state.status()));
  FillState(*state, response);
  return log.Finish(grpc::Status::OK);
}

grpc::Status SchemaServiceImpl::ListRevisions(
    grpc::ServerContext* context, const v1::ListRevisionsRequest*,
    v1::ListRevisionsResponse* response) {
  RequestLog log("ListRevisions", *context);
  auto state = migrator_->GetState();
  if (!state.ok()) return log.Finish(ToGrpcStatus(state.status()));
  const migrate::RevisionGraph& graph = migrator_->graph();
  const migrate::RevisionSet applied = graph.Closure(state->current);
  const auto& order = graph.topological_order();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const migrate::Script* script = graph.Find(*it);
    v1::Revision* r = response->add_revisions();
    r->set_id(script->id);
    for (const std::string& parent : script->down_revisions) {
      r->add_down_revisions(parent);
    }
    r->set_description(script->description);
    r->set_breaking(script->breaking);
    r->set_file(script->file);
    r->set_checksum(script->checksum);
    r->set_applied(applied.count(script->id) > 0);
    r->set_is_head(graph.Children(script->id).empty());
  }
  log.set_items_sent(response->revisions_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status SchemaServiceImpl::GetHistory(grpc::ServerContext* context,
                                           const v1::GetHistoryRequest* request,
                                           v1::GetHistoryResponse* response) {
  RequestLog log("GetHistory", *context);
  if (request->limit() < 0) {
    return log.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "limit must not be negative"));
  }
  const int limit = request->limit() == 0
                        ? kDefaultHistoryLimit
                        : std::min(request->limit(), kMaxHistoryLimit);
  auto history = migrator_->History(limit);
  if (!history.ok()) return log.Finish(ToGrpcStatus(history.status()));
  for (const migrate::HistoryEntry& entry : *history) {
    v1::HistoryEntry* e = response->add_entries();
    e->set_revision(entry.revision);
    e->set_direction(entry.direction);
    e->set_checksum(entry.checksum);
    e->set_applied_at(entry.applied_at);
    e->set_duration_ms(entry.duration_ms);
  }
  log.set_items_sent(response->entries_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status SchemaServiceImpl::Migrate(const char* method,
                                        grpc::ServerContext* context,
                                        migrate::Direction direction,
                                        const std::string& target,
                                        const migrate::RunOptions& run,
                                        v1::MigrateResponse* response) {
  RequestLog log(method, *context);
  if (absl::Status auth = CheckAdminToken(*context, admin_token_); !auth.ok()) {
    return log.Finish(ToGrpcStatus(auth));
  }
  absl::StatusOr<migrate::MigrationResult> result;
  switch (direction) {
    case migrate::Direction::kUpgrade:
      result = migrator_->Upgrade(target, run);
      break;
    case migrate::Direction::kDowngrade:
      result = migrator_->Downgrade(target, run);
      break;
    case migrate::Direction::kStamp:
      result = migrator_->Stamp(target);
      break;
  }
  monitor_->Poke();
  if (!result.ok()) return log.Finish(ToGrpcStatus(result.status()));
  for (const migrate::StepResult& step : result->steps) {
    v1::MigrationStep* s = response->add_steps();
    s->set_revision(step.revision);
    s->set_direction(migrate::DirectionName(step.direction));
    s->set_duration_ms(step.duration_ms);
  }
  response->set_sql(result->sql);
  for (const std::string& backup : result->backups) {
    response->add_backups(backup);
  }
  FillState(result->state, response->mutable_state());
  log.set_items_sent(response->steps_size());
  return log.Finish(grpc::Status::OK);
}

namespace {

migrate::RunOptions RunOptionsOf(const v1::MigrateRequest& request) {
  migrate::RunOptions run;
  run.sql_only = request.sql_only();
  run.allow_data_loss = request.allow_data_loss();
  run.backup = request.backup();
  return run;
}

}  // namespace

grpc::Status SchemaServiceImpl::Upgrade(grpc::ServerContext* context,
                                        const v1::MigrateRequest* request,
                                        v1::MigrateResponse* response) {
  return Migrate("Upgrade", context, migrate::Direction::kUpgrade,
                 request->target(), RunOptionsOf(*request), response);
}

grpc::Status SchemaServiceImpl::Downgrade(grpc::ServerContext* context,
                                          const v1::MigrateRequest* request,
                                          v1::MigrateResponse* response) {
  return Migrate("Downgrade", context, migrate::Direction::kDowngrade,
                 request->target(), RunOptionsOf(*request), response);
}

grpc::Status SchemaServiceImpl::Stamp(grpc::ServerContext* context,
                                      const v1::StampRequest* request,
                                      v1::MigrateResponse* response) {
  return Migrate("Stamp", context, migrate::Direction::kStamp,
                 request->target(), migrate::RunOptions{}, response);
}

grpc::Status SchemaServiceImpl::Validate(grpc::ServerContext* context,
                                         const v1::ValidateRequest*,
                                         v1::ValidateResponse* response) {
  RequestLog log("Validate", *context);
  auto problems = migrator_->Validate();
  if (!problems.ok()) return log.Finish(ToGrpcStatus(problems.status()));
  response->set_ok(problems->empty());
  for (const std::string& p : *problems) response->add_problems(p);
  return log.Finish(grpc::Status::OK);
}

grpc::Status SchemaServiceImpl::WatchRevision(
    grpc::ServerContext* context, const v1::WatchRevisionRequest*,
    grpc::ServerWriter<v1::RevisionState>* writer) {
  RequestLog log("WatchRevision", *context);
  int64_t sent = 0;
  RevisionMonitor::Snapshot snapshot = monitor_->Current();
  uint64_t seen = 0;
  bool have = snapshot.version > 0;
  while (!context->IsCancelled()) {
    if (have) {
      seen = snapshot.version;
      if (!snapshot.state.ok()) {
        log.set_items_sent(sent);
        return log.Finish(ToGrpcStatus(snapshot.state.status()));
      }
      v1::RevisionState message;
      FillState(*snapshot.state, &message);
      if (!writer->Write(message)) break;
      ++sent;
    }
    have = monitor_->WaitForChange(seen, kWatchWake, &snapshot);
    if (!have && monitor_->stopped()) break;
  }
  log.set_items_sent(sent);
  if (context->IsCancelled()) {
    return log.Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                   "the client cancelled the watch"));
  }
  return log.Finish(grpc::Status::OK);
}

}  // namespace pulse::schema
