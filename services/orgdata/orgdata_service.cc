#include "services/orgdata/orgdata_service.h"

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_util.h"

namespace pulse::orgdata {
namespace {

// Moves the strings out of `e`.
void ToProto(hierarchy::Employee& e, v1::Employee* out) {
  out->set_id(e.id);
  if (e.manager_id) out->set_manager_id(*e.manager_id);
  out->set_depth(e.depth);
  out->set_full_name(std::move(e.full_name));
  out->set_title(std::move(e.title));
  out->set_email(std::move(e.email));
  if (e.department_id) out->set_department_id(*e.department_id);
  out->set_hire_date(std::move(e.hire_date));
  if (e.notes) out->set_notes(std::move(*e.notes));
  if (e.direct_reports) out->set_direct_reports(*e.direct_reports);
}

grpc::Status InvalidId(const char* field, int64_t value) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat(field, " must be a positive employee id, not ", value));
}

hierarchy::Order FromProto(v1::Order order) {
  return order == v1::ORDER_BREADTH_FIRST ? hierarchy::Order::kBreadthFirst
                                          : hierarchy::Order::kDepthFirst;
}

}  // namespace

OrgDataServiceImpl::OrgDataServiceImpl(store::ConnectionPool* pool,
                                       const migrate::RevisionGate* gate,
                                       GateMonitor* monitor, Options options)
    : pool_(pool), gate_(gate), monitor_(monitor), options_(options) {}

absl::StatusOr<std::unique_ptr<hierarchy::Snapshot>>
OrgDataServiceImpl::OpenGated(migrate::RevisionState* state) {
  auto lease = pool_->Acquire();
  if (!lease.ok()) {
    absl::Status unavailable = absl::UnavailableError(absl::StrCat(
        "the database cannot be opened: ", lease.status().message()));
    monitor_->Observe(unavailable);
    return unavailable;
  }
  auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
  if (!snapshot.ok()) return snapshot.status();
  auto read = migrate::ReadRevisionState((*snapshot)->connection());
  if (!read.ok()) {
    monitor_->Observe(read.status());
    return read.status();
  }
  absl::Status verdict = gate_->Judge((*snapshot)->db(), *read);
  monitor_->Observe(verdict);
  if (!verdict.ok()) return verdict;
  if (state != nullptr) *state = *std::move(read);
  return snapshot;
}

grpc::Status OrgDataServiceImpl::StreamSubtree(
    grpc::ServerContext* context, const v1::StreamSubtreeRequest* request,
    grpc::ServerWriter<v1::SubtreeChunk>* writer) {
  RequestLog log("StreamSubtree", *context);
  hierarchy::SubtreeRequest query;
  query.root_id = request->root_id();
  query.max_depth = request->max_depth();
  query.order = FromProto(request->order());
  query.max_nodes = request->max_nodes();
  query.with_direct_reports = request->include_direct_reports();
  if (absl::Status s = hierarchy::ValidateSubtreeRequest(query); !s.ok()) {
    return log.Finish(ToGrpcStatus(s));
  }
  if (request->order() != v1::ORDER_UNSPECIFIED &&
      request->order() != v1::ORDER_DEPTH_FIRST &&
      request->order() != v1::ORDER_BREADTH_FIRST) {
    return log.Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unknown order ", static_cast<int>(request->order()))));
  }
  if (active_streams_.fetch_add(1) >= options_.max_streams) {
    --active_streams_;
    return log.Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the server is already streaming ", options_.max_streams,
                     " subtrees; retry with backoff")));
  }
  struct Done {
    std::atomic<int>* n;
    ~Done() { --*n; }
  } done{&active_streams_};
  migrate::RevisionState state;
  auto snapshot = OpenGated(&state);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));

  v1::SubtreeChunk chunk;
  for (const std::string& r : state.current) chunk.add_schema_revisions(r);
  int limit = options_.first_chunk_nodes;
  int64_t sent = 0;
  bool client_gone = false;
  auto flush = [&]() {
    if (!writer->Write(chunk)) {
      client_gone = true;
      return false;
    }
    chunk.Clear();
    limit = options_.chunk_nodes;
    return true;
  };
  bool truncated = false;
  absl::Status status = (*snapshot)->StreamSubtree(
      query,
      [&](hierarchy::Employee& e) {
        ToProto(e, chunk.add_nodes());
        ++sent;
        nodes_read_.fetch_add(1, std::memory_order_relaxed);
        if (chunk.nodes_size() >= limit) return flush();
        return true;
      },
      [context] { return context->IsCancelled(); }, &truncated);
  log.set_items_sent(sent);
  if (client_gone || context->IsCancelled()) {
    return log.Finish(
        grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
  }
  if (!status.ok()) return log.Finish(ToGrpcStatus(status));
  chunk.set_truncated(truncated);
  if (chunk.nodes_size() > 0 || truncated) flush();
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::GetEmployee(
    grpc::ServerContext* context, const v1::GetEmployeeRequest* request,
    v1::Employee* response) {
  RequestLog log("GetEmployee", *context);
  if (request->id() <= 0) return log.Finish(InvalidId("id", request->id()));
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto employee = (*snapshot)->GetEmployee(request->id());
  if (!employee.ok()) return log.Finish(ToGrpcStatus(employee.status()));
  ToProto(*employee, response);
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::ListChainOfCommand(
    grpc::ServerContext* context, const v1::ListChainOfCommandRequest* request,
    v1::ListChainOfCommandResponse* response) {
  RequestLog log("ListChainOfCommand", *context);
  if (request->id() <= 0) return log.Finish(InvalidId("id", request->id()));
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto employee = (*snapshot)->GetEmployee(request->id());
  if (!employee.ok()) return log.Finish(ToGrpcStatus(employee.status()));
  auto chain = (*snapshot)->ChainOfCommand(request->id());
  if (!chain.ok()) return log.Finish(ToGrpcStatus(chain.status()));
  ToProto(*employee, response->mutable_employee());
  for (hierarchy::Employee& m : *chain) ToProto(m, response->add_managers());
  log.set_items_sent(response->managers_size() + 1);
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::GetSubtreeSummary(
    grpc::ServerContext* context, const v1::GetSubtreeSummaryRequest* request,
    v1::SubtreeSummary* response) {
  RequestLog log("GetSubtreeSummary", *context);
  hierarchy::SubtreeRequest query;
  query.root_id = request->root_id();
  query.max_depth = request->max_depth();
  if (absl::Status s = hierarchy::ValidateSubtreeRequest(query); !s.ok()) {
    return log.Finish(ToGrpcStatus(s));
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto summary =
      (*snapshot)->Summarize(query.root_id, query.max_depth,
                             [context] { return context->IsCancelled(); });
  if (!summary.ok()) return log.Finish(ToGrpcStatus(summary.status()));
  response->set_headcount(summary->headcount);
  response->set_depth(summary->depth);
  response->set_widest_span(summary->widest_span);
  response->set_widest_span_manager_id(summary->widest_span_manager_id);
  return log.Finish(grpc::Status::OK);
}

}  // namespace pulse::orgdata
