#ifndef PULSE_SERVICES_ORGDATA_ORGDATA_SERVICE_H_
#define PULSE_SERVICES_ORGDATA_ORGDATA_SERVICE_H_

#include <atomic>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/poller.h"
#include "libs/common/worker_pool.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/migrate/revision_gate.h"
#include "libs/store/pool.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "services/orgdata/change_feed.h"
#include "services/orgdata/gate_monitor.h"
#include "services/orgdata/writer.h"

namespace pulse::orgdata {

// The gRPC adapter of pulse.orgdata.v1.OrgDataService. Every call reads
// from one snapshot (read transaction) whose first read is the revision
// gate, so a migration committing between the check and the data cannot
// slip through. Thread-safe.
//
// StreamSubtree runs on the callback API: a stream is a reactor that reads
// its next chunk when the previous one has been written, so it holds no
// thread while its client reads, and a small subtree is read and sent
// without a hand-off between threads. Each reaction reads at most one
// chunk; the second is read on a worker thread (see chunk_readers_). The unary
// calls, whose reads (a whole summary) are not bounded, keep the sync API's
// thread pool.
//
// WatchChanges runs on the callback API too: a watcher holds no thread;
// one ChangeFeed reads the change log for all of them.
class OrgDataServiceImpl final
    : public v1::OrgDataService::WithRawCallbackMethod_StreamSubtree<
          v1::OrgDataService::WithCallbackMethod_WatchChanges<
              v1::OrgDataService::Service>> {
 public:
  struct Options {
    // Nodes in the first chunk: small, so the first nodes leave at once.
    int first_chunk_nodes = 64;
    // Nodes in every later chunk.
    int chunk_nodes = 1024;
    // Streams allowed at once; more get RESOURCE_EXHAUSTED. Each holds a
    // read snapshot and a connection while its client reads.
    int max_streams = 256;
    // Bearer token that ApplyChanges and Import need; empty refuses them.
    std::string admin_token;
    // Longest a stream may hold its read snapshot: a client that stops
    // reading would otherwise hold back the database's checkpoints. Past
    // it the snapshot is dropped at once and the stream ends ABORTED.
    absl::Duration max_snapshot_age = absl::Seconds(60);
    // Unary calls (and Import streams) running at once; more get
    // RESOURCE_EXHAUSTED.
    int max_unary_calls = 64;
    // The change feed: polling, checkpoints, retention.
    ChangeFeed::Options feed;
  };

  // Everything pointed to must outlive the service.
  OrgDataServiceImpl(store::ConnectionPool* pool,
                     const migrate::RevisionGate* gate, GateMonitor* monitor,
                     Writer* writer, Options options);
  // Stops the reaper of old snapshots.
  ~OrgDataServiceImpl() override;

  // Raw: chunks are written as protobuf bytes made straight from the rows
  // (ChunkEncoder); the request is parsed here.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamSubtree(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<v1::WatchChangesResponse>* WatchChanges(
      grpc::CallbackServerContext* context,
      const v1::WatchChangesRequest* request) override;
  grpc::Status GetEmployee(grpc::ServerContext* context,
                           const v1::GetEmployeeRequest* request,
                           v1::Employee* response) override;
  grpc::Status ListChainOfCommand(
      grpc::ServerContext* context,
      const v1::ListChainOfCommandRequest* request,
      v1::ListChainOfCommandResponse* response) override;
  grpc::Status GetSubtreeSummary(grpc::ServerContext* context,
                                 const v1::GetSubtreeSummaryRequest* request,
                                 v1::SubtreeSummary* response) override;
  grpc::Status ListDirectReports(
      grpc::ServerContext* context, const v1::ListDirectReportsRequest* request,
      v1::ListDirectReportsResponse* response) override;
  grpc::Status SearchEmployees(grpc::ServerContext* context,
                               const v1::SearchEmployeesRequest* request,
                               v1::SearchEmployeesResponse* response) override;
  grpc::Status ListDepartments(grpc::ServerContext* context,
                               const v1::ListDepartmentsRequest* request,
                               v1::ListDepartmentsResponse* response) override;
  grpc::Status GetDepartment(grpc::ServerContext* context,
                             const v1::GetDepartmentRequest* request,
                             v1::Department* response) override;
  grpc::Status ApplyChanges(grpc::ServerContext* context,
                            const v1::ApplyChangesRequest* request,
                            v1::ApplyChangesResponse* response) override;
  grpc::Status Import(grpc::ServerContext* context,
                      grpc::ServerReader<v1::ImportRequest>* reader,
                      v1::ImportResponse* response) override;

  // Streams holding a snapshot now, and nodes read for streams since start
  // (both for metrics and tests).
  int active_streams() const { return active_streams_.load(); }
  // Streams whose snapshot was dropped for its age (for metrics and tests).
  int64_t expired_streams() const { return expired_streams_.load(); }
  int64_t nodes_read() const { return nodes_read_.load(); }
  // Unary calls and writes holding a slot now (for metrics and tests).
  int unary_calls() const { return unary_calls_.load(); }

  // After the database file was replaced: what reads learned of the old
  // file is not the new file's.
  void ForgetWhatReadsLearned() {
    read_caches_.Clear();
    gate_facts_.Clear();
  }

 private:
  class SubtreeStream;
  class ChangeWatch;

  // What a connection's snapshots learned of the gate and the change log,
  // kept while nothing commits (reading the revision state takes up to
  // four queries).
  struct GateFacts {
    std::shared_ptr<const migrate::RevisionState> state;
    absl::Status verdict;
    // The change token of the snapshot ("" without a change log).
    std::string snapshot_token;
  };

  // A snapshot whose revision passed the gate; when `facts` is not null,
  // it is set to what the snapshot's connection knows of it.
  absl::StatusOr<std::unique_ptr<hierarchy::Snapshot>> OpenGated(
      std::shared_ptr<const GateFacts>* facts);

  // Counts a unary call against max_unary_calls while it lives.
  class UnarySlot;
  // RESOURCE_EXHAUSTED when max_unary_calls are running.
  grpc::Status TakeUnarySlot(std::unique_ptr<UnarySlot>* slot);
  // A write's admission: a unary slot, a database file still the one
  // opened, the admin token.
  grpc::Status AdmitWrite(const grpc::ServerContext& context,
                          std::unique_ptr<UnarySlot>* slot);

  // Streams holding a snapshot, for the reaper.
  void Register(SubtreeStream* stream);
  void Unregister(SubtreeStream* stream);
  // Drops the snapshots held longer than max_snapshot_age.
  void ReapOldSnapshots();

  store::ConnectionPool* pool_;
  // What reads share across connections (hierarchy::ReadCaches).
  hierarchy::ReadCaches read_caches_;
  store::ConnectionMemo<GateFacts> gate_facts_;
  const migrate::RevisionGate* gate_;
  GateMonitor* monitor_;
  Writer* writer_;
  const Options options_;
  // Reads each stream's second chunk, so the thread that saw the first
  // written returns at once and gRPC sends it while the next is read.
  WorkerPool chunk_readers_;
  std::atomic<int> active_streams_{0};
  std::atomic<int64_t> nodes_read_{0};
  std::atomic<int64_t> expired_streams_{0};
  std::atomic<int> unary_calls_{0};
  absl::Mutex streams_mu_;
  absl::flat_hash_set<SubtreeStream*> open_streams_
      ABSL_GUARDED_BY(streams_mu_);
  Poller reaper_;
  // Last: stopped before what its watchers' reactions use.
  ChangeFeed feed_;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_ORGDATA_SERVICE_H_
