// The Pulse benchmark: one run measures, on a freshly seeded organisation,
//   - pulse-schema upgrade head on a new file, and seeding N employees;
//   - the whole organisation streamed end-to-end from a real pulse-orgdata
//     over loopback (wall time, nodes/s, first chunk, server RSS growth);
//   - the floor: the same subtree read in-process through libs/hierarchy;
//   - the naive reference: sqlite3's CLI running a plain WITH RECURSIVE;
//   - a ~10,000-node subtree: p50/p99 over repeated calls;
//   - load: concurrent clients streaming depth-2 subtrees of random managers
//     against the real server and against the gRPC floor: this binary
//     started again as a server process whose trivial handler returns one
//     ready chunk (a real depth-2 answer of the mean size), on the callback
//     API and on the sync API, the three taking turns in short rounds;
// then prints a table, the targets with PASS/FAIL, and one JSON line.
// Figures are measurements, never assertions: the exit status is 0 unless
// the benchmark itself could not run.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/common/grpc_util.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/store/pool.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"

ABSL_FLAG(std::string, bin_dir, "build/services",
          "Directory holding schema/pulse-schema and orgdata/pulse-orgdata.");
ABSL_FLAG(std::string, migrations, "migrations", "Migration scripts.");
ABSL_FLAG(std::string, work_dir, "/tmp/pulse-bench",
          "Scratch directory for the database and logs (recreated).");
ABSL_FLAG(int64_t, employees, 1000000, "Organisation size.");
ABSL_FLAG(int, repeats, 5,
          "Turns of the whole-organisation measurements (end to end and "
          "in-process), the best of each counting.");
ABSL_FLAG(int, latency_calls, 200, "Calls for the mid-level latency figure.");
ABSL_FLAG(int, clients, 32, "Concurrent clients in the load test.");
ABSL_FLAG(int, channels, 4,
          "Channels (connections) the load test's clients share, in turn.");
ABSL_FLAG(double, load_seconds, 10,
          "Length of the load test of each server, split into rounds.");
ABSL_FLAG(int, load_rounds, 10,
          "Turns the real server and the two gRPC floors take under load.");
ABSL_FLAG(std::string, floor_server, "",
          "Internal: run only the trivial gRPC floor server (sync or "
          "callback) on 127.0.0.1:0 until SIGTERM, serving the chunk in "
          "--floor_chunk; the benchmark starts itself this way.");
ABSL_FLAG(std::string, floor_chunk, "",
          "Internal: file holding the floor server's serialized chunk.");
ABSL_FLAG(std::string, compare_server, "",
          "Another build's pulse-orgdata, to serve the same database and "
          "take its turns under load beside this build's (a paired "
          "comparison of two versions, free of the machine's drift).");
ABSL_FLAG(double, writes_per_second, 100,
          "Single-change ApplyChanges calls per second in the mixed load.");
ABSL_FLAG(bool, reuse_db, false,
          "Keep the work directory's seeded database from an earlier run of "
          "the same size (upgrade and seed are then not measured); for "
          "iterating on the serving path.");

namespace {

using pulse::orgdata::v1::OrgDataService;
using pulse::orgdata::v1::StreamSubtreeRequest;
using pulse::orgdata::v1::SubtreeChunk;

// Servers started and not yet stopped: a run that dies stops them too,
// rather than leaving them serving the database.
std::vector<pid_t>& RunningServers() {
  static auto* servers = new std::vector<pid_t>;
  return *servers;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "pulse_bench: %s\n", why.c_str());
  for (pid_t pid : RunningServers()) kill(pid, SIGTERM);
  std::exit(1);
}

// Runs argv with stdout/stderr to files; returns the pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out,
            const std::string& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) !=
      0) {
    Die("cannot run " + argv[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Runs argv to completion; returns its wall time, dying on failure.
absl::Duration Run(const std::vector<std::string>& argv, const std::string& dir,
                   const std::string& name) {
  const absl::Time start = absl::Now();
  pid_t pid = Spawn(argv, dir + "/" + name + ".out", dir + "/" + name + ".err");
  int status = 0;
  waitpid(pid, &status, 0);
  const absl::Duration took = absl::Now() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(absl::StrCat(name, " failed; see ", dir, "/", name, ".err"));
  }
  return took;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct ServerProcess {
  pid_t pid = 0;
  std::string address;
};

// Starts a server that logs "... on port N" to stderr, and waits for it.
ServerProcess StartServer(const std::vector<std::string>& argv,
                          const std::string& dir, const std::string& name) {
  ServerProcess server;
  const std::string err = dir + "/" + name + ".err";
  server.pid = Spawn(argv, dir + "/" + name + ".out", err);
  RunningServers().push_back(server.pid);
  int port = 0;
  for (int i = 0; i < 2000 && port == 0; ++i) {
    const std::string log = Slurp(err);
    const size_t at = log.find(" on port ");
    if (at != std::string::npos) {
      absl::SimpleAtoi(
          log.substr(at + 9, log.find_first_of(" \n", at + 9) - at - 9), &port);
    }
    if (port == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  if (port == 0) Die(argv[0] + " did not start; see " + err);
  server.address = absl::StrCat("127.0.0.1:", port);
  return server;
}

void StopServer(const ServerProcess& server) {
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
  auto& running = RunningServers();
  running.erase(std::remove(running.begin(), running.end(), server.pid),
                running.end());
}

// CPU time (user + system) the process has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state is field 3, utime 14 and stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib;
    }
  }
  return 0;
}

// Calls f() while sampling `pid`'s RSS every 5 ms; raises *growth_kib to
// the peak over the RSS before the call if that is higher.
template <typename F>
auto SampleRssGrowth(pid_t pid, F f, int64_t* growth_kib) {
  const int64_t before = RssKiB(pid);
  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{before};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max<int64_t>(peak, RssKiB(pid));
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  auto result = f();
  done = true;
  sampler.join();
  *growth_kib = std::max<int64_t>(*growth_kib, peak - before);
  return result;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct StreamFigures {
  double seconds = 0;
  double first_chunk_ms = 0;
  int64_t nodes = 0;
  // The nodes' bytes as protobuf encodes them (with count_bytes).
  int64_t bytes = 0;
};

StreamFigures StreamOnce(OrgDataService::Stub* stub,
                         const StreamSubtreeRequest& request,
                         bool count_bytes = false) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::minutes(5));
  StreamFigures f;
  const absl::Time start = absl::Now();
  auto reader = stub->StreamSubtree(&context, request);
  SubtreeChunk chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) {
      f.first_chunk_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      first = false;
    }
    f.nodes += chunk.nodes_size();
    if (count_bytes) {
      for (const auto& node : chunk.nodes()) f.bytes += node.ByteSizeLong();
    }
  }
  grpc::Status status = reader->Finish();
  f.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!status.ok()) Die("StreamSubtree failed: " + status.error_message());
  return f;
}

// The gRPC floor: a streaming handler that sends one ready-made chunk.
class TrivialService final : public OrgDataService::Service {
 public:
  explicit TrivialService(SubtreeChunk chunk) : chunk_(std::move(chunk)) {}
  grpc::Status StreamSubtree(
      grpc::ServerContext*, const StreamSubtreeRequest*,
      grpc::ServerWriter<SubtreeChunk>* writer) override {
    writer->Write(chunk_);
    return grpc::Status::OK;
  }

 private:
  const SubtreeChunk chunk_;
};

// The same trivial handler on the callback API.
class TrivialCallbackService final : public OrgDataService::CallbackService {
 public:
  explicit TrivialCallbackService(SubtreeChunk chunk)
      : chunk_(std::move(chunk)) {}
  grpc::ServerWriteReactor<SubtreeChunk>* StreamSubtree(
      grpc::CallbackServerContext*, const StreamSubtreeRequest*) override {
    class Reactor final : public grpc::ServerWriteReactor<SubtreeChunk> {
     public:
      explicit Reactor(const SubtreeChunk* chunk) {
        StartWriteAndFinish(chunk, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }
    };
    return new Reactor(&chunk_);
  }

 private:
  const SubtreeChunk chunk_;
};

// --floor_server mode: serves the chunk from a trivial handler with the
// services' server settings until SIGTERM.
int ServeFloor(const std::string& api, const std::string& chunk_file) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  SubtreeChunk chunk;
  {
    std::ifstream in(chunk_file, std::ios::binary);
    if (!chunk.ParseFromIstream(&in)) Die("cannot read " + chunk_file);
  }
  TrivialService sync_service(chunk);
  TrivialCallbackService callback_service(chunk);
  grpc::ServerBuilder builder;
  pulse::ApplyServerDefaults(&builder);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  if (api == "sync") {
    builder.RegisterService(&sync_service);
  } else if (api == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    Die("--floor_server must be sync or callback");
  }
  auto server = builder.BuildAndStart();
  if (server == nullptr || port == 0) Die("the floor server cannot listen");
  std::fprintf(stderr, "pulse_bench %s floor server on port %d\n", api.c_str(),
               port);
  int signal = 0;
  sigwait(&term, &signal);
  server->Shutdown(std::chrono::system_clock::now());
  return 0;
}

struct LoadFigures {
  double streams_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  // The server's and the clients' CPU time (user + system) per stream.
  double server_cpu_us = 0;
  double client_cpu_us = 0;
};

// What the rounds of load against one server gathered.
struct LoadSamples {
  std::vector<double> latencies_ms;
  double seconds = 0;
  // The server's and this process's (the clients') CPU time over the
  // rounds.
  double server_cpu_seconds = 0;
  double client_cpu_seconds = 0;

  LoadFigures Figures() const {
    auto per_stream_us = [this](double cpu_seconds) {
      return latencies_ms.empty() ? 0 : cpu_seconds * 1e6 / latencies_ms.size();
    };
    LoadFigures f;
    f.streams_per_second = latencies_ms.size() / std::max(seconds, 1e-9);
    f.p50_ms = Percentile(latencies_ms, 0.50);
    f.p99_ms = Percentile(latencies_ms, 0.99);
    f.server_cpu_us = per_stream_us(server_cpu_seconds);
    f.client_cpu_us = per_stream_us(client_cpu_seconds);
    return f;
  }
};

// One round of load: `clients` threads on 4 channels streaming depth-2
// subtrees of random managers for `length`, with `writes` alongside when
// set.
// The admin token the benchmark's server is started with.
constexpr char kBenchToken[] = "bench-admin-token-0123456789";

// An ApplyChanges call with the bench's token; its latency in ms, or -1
// on failure.
double TimedApply(OrgDataService::Stub* stub,
                  const pulse::orgdata::v1::ApplyChangesRequest& request) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kBenchToken));
  pulse::orgdata::v1::ApplyChangesResponse response;
  const absl::Time start = absl::Now();
  const grpc::Status status = stub->ApplyChanges(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "pulse_bench: ApplyChanges: %s\n",
                 status.error_message().c_str());
    return -1;
  }
  return absl::ToDoubleMilliseconds(absl::Now() - start);
}

// A new employee under `manager`, as one change.
pulse::orgdata::v1::Change NewEmployee(int64_t id, int64_t manager) {
  pulse::orgdata::v1::Change change;
  auto* e = change.mutable_upsert_employee();
  e->set_id(id);
  e->set_manager_id(manager);
  e->set_full_name(absl::StrCat("Bench Hire ", id));
  e->set_title("Engineer");
  e->set_email(absl::StrCat("bench.hire.", id, "@pulse.example"));
  e->set_hire_date("2026-12-01");
  return change;
}

// Commit-to-event latency of the change feed: `watchers` watch the whole
// organisation while `writes` single-change ApplyChanges (a new employee
// each, 50 per second) commit; each event's latency is its arrival at a
// watcher after the ApplyChanges call returned (0 when it came first).
struct WatchLatency {
  double p50_ms = 0, p99_ms = 0;
  int64_t missing = 0;
};
WatchLatency MeasureWatchLatency(const std::string& address, int watchers,
                                 int writes, int64_t manager,
                                 int64_t* next_id) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = OrgDataService::NewStub(channel);
  const int64_t first_id = *next_id;
  std::vector<std::vector<absl::Time>> arrivals(
      watchers, std::vector<absl::Time>(writes, absl::InfiniteFuture()));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int w = 0; w < watchers; ++w) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
  }
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < watchers; ++w) {
    threads.emplace_back([&, w] {
      pulse::orgdata::v1::WatchChangesRequest request;
      auto reader = stub->WatchChanges(contexts[w].get(), request);
      pulse::orgdata::v1::WatchChangesResponse response;
      bool first = true;
      while (reader->Read(&response)) {
        const absl::Time now = absl::Now();
        if (first) ++ready;
        first = false;
        for (const auto& e : response.events()) {
          const int64_t i = e.employee().id() - first_id;
          if (e.kind() == pulse::orgdata::v1::CHANGE_KIND_EMPLOYEE_ADDED &&
              i >= 0 && i < writes) {
            arrivals[w][i] = now;
          }
        }
      }
      reader->Finish().IgnoreError();
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ready.load() < watchers && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  std::vector<absl::Time> committed(writes);
  for (int i = 0; i < writes; ++i) {
    pulse::orgdata::v1::ApplyChangesRequest request;
    *request.add_changes() = NewEmployee((*next_id)++, manager);
    if (TimedApply(stub.get(), request) < 0) Die("a watched write failed");
    committed[i] = absl::Now();
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Until every watcher has every event (or the deadline).
  auto all_arrived = [&] {
    for (const auto& a : arrivals) {
      for (absl::Time t : a) {
        if (t == absl::InfiniteFuture()) return false;
      }
    }
    return true;
  };
  const absl::Time wait_until = absl::Now() + absl::Seconds(10);
  while (!all_arrived() && absl::Now() < wait_until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : threads) t.join();
  WatchLatency out;
  std::vector<double> ms;
  for (const auto& a : arrivals) {
    for (int i = 0; i < writes; ++i) {
      if (a[i] == absl::InfiniteFuture()) {
        ++out.missing;
        continue;
      }
      ms.push_back(
          std::max(0.0, absl::ToDoubleMilliseconds(a[i] - committed[i])));
    }
  }
  out.p50_ms = Percentile(ms, 0.5);
  out.p99_ms = Percentile(ms, 0.99);
  return out;
}

// What `watchers` idle watches cost the server: RSS growth once they are
// open, and its CPU over `seconds` while nothing changes.
struct IdleWatchers {
  double rss_growth_mib = 0, cpu_percent = 0;
  int opened = 0;
};
IdleWatchers MeasureIdleWatchers(const std::string& address, pid_t server,
                                 int watchers, double seconds) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = OrgDataService::NewStub(channel);
  grpc::CompletionQueue cq;
  struct Watch {
    grpc::ClientContext context;
    pulse::orgdata::v1::WatchChangesResponse response;
    std::unique_ptr<
        grpc::ClientAsyncReader<pulse::orgdata::v1::WatchChangesResponse>>
        reader;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  const int64_t rss_before = RssKiB(server);
  pulse::orgdata::v1::WatchChangesRequest request;
  for (int i = 0; i < watchers; ++i) {
    auto w = std::make_unique<Watch>();
    w->reader = stub->PrepareAsyncWatchChanges(&w->context, request, &cq);
    w->reader->StartCall(reinterpret_cast<void*>(2 * i));
    watches.push_back(std::move(w));
  }
  // Started, then the first message (the checkpoint) of each.
  IdleWatchers out;
  int started = 0;
  void* tag;
  bool ok;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (out.opened < watchers && absl::Now() < deadline &&
         cq.AsyncNext(&tag, &ok, absl::ToChronoTime(deadline)) ==
             grpc::CompletionQueue::GOT_EVENT) {
    const intptr_t t = reinterpret_cast<intptr_t>(tag);
    Watch& w = *watches[t / 2];
    if (t % 2 == 0) {
      ++started;
      if (ok) w.reader->Read(&w.response, reinterpret_cast<void*>(t + 1));
    } else if (ok) {
      ++out.opened;
    }
  }
  out.rss_growth_mib = (RssKiB(server) - rss_before) / 1024.0;
  const double cpu_before = CpuSeconds(server);
  absl::SleepFor(absl::Seconds(seconds));
  out.cpu_percent = 100 * (CpuSeconds(server) - cpu_before) / seconds;
  for (auto& w : watches) w->context.TryCancel();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return out;
}

// Writes made during a round of load: `per_second` single-change
// ApplyChanges calls (a new employee under a random manager), each
// latency into `latencies_ms`; ids from `*next_id` up.
struct WriteLoad {
  double per_second = 0;
  int64_t* next_id = nullptr;
  std::vector<double>* latencies_ms = nullptr;
};

void Load(const ServerProcess& server, const std::vector<int64_t>& roots,
          int clients, absl::Duration length, uint64_t seed, LoadSamples* into,
          const WriteLoad& writes = {}) {
  const std::string& address = server.address;
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // A few channels, as a real client fleet would not share one connection.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_channels)); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // Distinct channels, not one shared.
    channels.push_back(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
  }
  const absl::Time start = absl::Now();
  const double cpu_start = CpuSeconds(server.pid);
  const double client_cpu_start = CpuSeconds(getpid());
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = OrgDataService::NewStub(channels[c % channels.size()]);
      std::mt19937_64 rng(seed * 1000 + c + 1);
      StreamSubtreeRequest request;
      request.set_max_depth(2);
      while (!stop.load(std::memory_order_relaxed)) {
        request.set_root_id(roots[rng() % roots.size()]);
        StreamFigures f = StreamOnce(stub.get(), request);
        latencies[c].push_back(f.seconds * 1000);
      }
    });
  }
  if (writes.per_second > 0) {
    threads.emplace_back([&] {
      auto stub = OrgDataService::NewStub(channels[0]);
      std::mt19937_64 rng(seed + 99);
      const absl::Duration every = absl::Seconds(1) / writes.per_second;
      absl::Time next = absl::Now();
      while (!stop.load(std::memory_order_relaxed)) {
        pulse::orgdata::v1::ApplyChangesRequest request;
        *request.add_changes() =
            NewEmployee((*writes.next_id)++, roots[rng() % roots.size()]);
        const double ms = TimedApply(stub.get(), request);
        if (ms >= 0) writes.latencies_ms->push_back(ms);
        next += every;
        absl::SleepFor(next - absl::Now());
      }
    });
  }
  absl::SleepFor(length);
  stop = true;
  for (auto& t : threads) t.join();
  into->seconds += absl::ToDoubleSeconds(absl::Now() - start);
  into->server_cpu_seconds += CpuSeconds(server.pid) - cpu_start;
  into->client_cpu_seconds += CpuSeconds(getpid()) - client_cpu_start;
  for (auto& l : latencies) {
    into->latencies_ms.insert(into->latencies_ms.end(), l.begin(), l.end());
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_floor_server).empty()) {
    return ServeFloor(absl::GetFlag(FLAGS_floor_server),
                      absl::GetFlag(FLAGS_floor_chunk));
  }
  const std::string bin = absl::GetFlag(FLAGS_bin_dir);
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  const std::string db = dir + "/bench.db";
  const int64_t employees = absl::GetFlag(FLAGS_employees);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const bool reuse =
      absl::GetFlag(FLAGS_reuse_db) && access(db.c_str(), F_OK) == 0;

  // 1. Migrate a new file, then seed.
  absl::Duration upgrade, seed;
  if (!reuse) {
    std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
    // Best of --repeats, each on a new file: the first upgrade after the
    // last run's files were deleted waited on the file system (69.5 ms
    // against 30 ms).
    auto upgrade_to_head = [&](const std::string& file) {
      return Run(
          {bin + "/schema/pulse-schema", "upgrade", "head", "--db=" + file,
           "--migrations=" + absl::GetFlag(FLAGS_migrations)},
          dir, "upgrade");
    };
    upgrade = upgrade_to_head(db);
    for (int r = 1; r < repeats; ++r) {
      const std::string scratch = absl::StrCat(dir, "/upgrade-", r, ".db");
      upgrade = std::min(upgrade, upgrade_to_head(scratch));
      std::system(("rm -f '" + scratch + "'*").c_str());
    }
    seed = Run({bin + "/orgdata/pulse-orgdata", "seed", "--db=" + db,
                absl::StrCat("--employees=", employees)},
               dir, "seed");
  }

  // 2. The real server. `ServePulse` starts one on the benchmark's
  // database, logging to `name`.err.
  auto ServePulse = [&](const std::string& name) {
    return StartServer(
        {bin + "/orgdata/pulse-orgdata", "serve", "--db=" + db,
         "--listen=127.0.0.1:0", absl::StrCat("--admin_token=", kBenchToken)},
        dir, name);
  };
  const ServerProcess real_server = ServePulse("server");
  const pid_t server = real_server.pid;
  const std::string& address = real_server.address;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  auto stub = OrgDataService::NewStub(channel);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::seconds(10))) {
    Die("cannot connect to pulse-orgdata");
  }

  // 3 and 4. The whole organisation end to end, with the server's RSS
  // sampled, and the in-process floor: the same read through the project's
  // own query, no gRPC. They take turns, so that a change in the machine's
  // speed falls on both alike; the best of each counts.
  StreamSubtreeRequest whole;
  whole.set_root_id(1);
  int64_t nodes = 0, rss_growth_kib = 0;
  auto sampling_rss = [&](auto stream) {
    return SampleRssGrowth(server, stream, &rss_growth_kib);
  };
  // Warms the page cache and the pool, and is measured too: the server's
  // first whole read also fills its table of checked paths (the managers
  // it meets), which later reads only look up.
  sampling_rss([&] { return StreamOnce(stub.get(), whole); });
  double e2e_best = 1e9, first_chunk_root = 0;
  pulse::store::OpenOptions ro;
  ro.read_only = true;
  pulse::store::ConnectionPool pool(db, ro, 1);
  double floor_best = 1e9;
  std::vector<std::pair<int64_t, int64_t>> links;  // (id, manager)
  for (int r = 0; r < repeats; ++r) {
    StreamFigures f =
        sampling_rss([&] { return StreamOnce(stub.get(), whole); });
    if (f.seconds < e2e_best) {
      e2e_best = f.seconds;
      first_chunk_root = f.first_chunk_ms;
    }
    nodes = f.nodes;

    auto lease = pool.Acquire();
    auto snapshot = pulse::hierarchy::Snapshot::Begin(*std::move(lease));
    if (!snapshot.ok()) Die(std::string(snapshot.status().message()));
    pulse::hierarchy::SubtreeRequest request;
    request.root_id = 1;
    int64_t bytes = 0;
    // The read the server makes: nodes as views into SQLite's buffers.
    const absl::Time start = absl::Now();
    auto reader = (*snapshot)->OpenSubtree(request);
    if (!reader.ok()) Die(std::string(reader.status().message()));
    absl::StatusOr<bool> more = true;
    while (more.ok() && *more) {
      more = (*reader)->NextViews(
          std::numeric_limits<int64_t>::max(),
          [&](const pulse::hierarchy::EmployeeView& e) {
            bytes += e.full_name.size() + e.email.size() + e.title.size();
            if (r == 0) links.emplace_back(e.id, e.manager_id.value_or(0));
            return true;
          },
          {});
    }
    floor_best =
        std::min(floor_best, absl::ToDoubleSeconds(absl::Now() - start));
    if (!more.ok() || bytes == 0) Die("in-process read failed");
  }
  // A reused database holds the writes of earlier runs too.
  if (nodes != employees && !reuse) {
    Die(absl::StrCat("streamed ", nodes, " nodes"));
  }

  // 5. The naive reference: sqlite3's own recursive walk over manager_id.
  double reference_best = 1e9;
  const std::string reference_sql =
      "WITH RECURSIVE sub(id, depth) AS (SELECT 1, 0 UNION ALL SELECT e.id, "
      "sub.depth + 1 FROM employees e JOIN sub ON e.manager_id = sub.id) "
      "SELECT e.id, e.manager_id, sub.depth, e.full_name, e.title, e.email, "
      "e.department_id, e.hire_date, e.notes FROM sub JOIN employees e ON "
      "e.id = sub.id;";
  for (int r = 0; r < std::min(repeats, 2); ++r) {
    reference_best =
        std::min(reference_best,
                 absl::ToDoubleSeconds(
                     Run({"/usr/bin/sqlite3", "-readonly", db, reference_sql},
                         dir, "reference")));
  }

  // 5b. What a client that draws only names pays: the whole organisation
  // with read_mask = id, manager_id, full_name against every field, in
  // turns (best of each), and the bytes per node of each.
  StreamSubtreeRequest masked = whole;
  for (const char* path : {"id", "manager_id", "full_name"}) {
    masked.mutable_read_mask()->add_paths(path);
  }
  StreamFigures all_fields{1e9}, name_only{1e9};
  for (int r = 0; r < repeats; ++r) {
    for (bool mask : {r % 2 == 0, r % 2 != 0}) {
      StreamFigures f = StreamOnce(stub.get(), mask ? masked : whole,
                                   /*count_bytes=*/true);
      StreamFigures& best = mask ? name_only : all_fields;
      if (f.seconds < best.seconds) best = f;
    }
  }

  // 5c. SearchEmployees with 3-letter prefixes: of the first and last
  // names of employees picked across the table, and of title words, one
  // call at a time (default page of 50).
  std::vector<std::string> prefixes;
  {
    auto lease = pool.Acquire();
    if (!lease.ok()) Die(std::string(lease.status().message()));
    auto q = (*lease)->db().Prepare(
        absl::StrCat("SELECT full_name, title FROM employees WHERE id % ",
                     std::max<int64_t>(1, employees / 200), " = 0"));
    if (!q.ok()) Die(std::string(q.status().message()));
    absl::Status s = q->ForEachRow([&] {
      for (int c = 0; c < 2; ++c) {
        std::string text = q->Text(c);
        // First and last word.
        const size_t space = text.rfind(' ');
        for (const std::string& word :
             {text.substr(0, text.find(' ')),
              space == std::string::npos ? text : text.substr(space + 1)}) {
          if (word.size() >= 3) prefixes.push_back(word.substr(0, 3));
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok()) Die(std::string(s.message()));
  }
  std::vector<double> search_ms;
  int64_t search_hits = 0;
  for (int pass = 0; pass < 2; ++pass) {  // The first warms the cache.
    for (const std::string& prefix : prefixes) {
      grpc::ClientContext context;
      pulse::orgdata::v1::SearchEmployeesRequest request;
      request.set_query(prefix);
      pulse::orgdata::v1::SearchEmployeesResponse response;
      const absl::Time start = absl::Now();
      grpc::Status status = stub->SearchEmployees(&context, request, &response);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      if (!status.ok()) Die("SearchEmployees: " + status.error_message());
      if (pass == 1) {
        search_ms.push_back(ms);
        search_hits += response.employees_size();
      }
    }
  }

  // Subtree sizes, to pick a mid-level root and the managers for the load.
  std::map<int64_t, int64_t> manager_of(links.begin(), links.end());
  std::map<int64_t, int64_t> size;
  for (auto it = links.rbegin(); it != links.rend(); ++it) {  // Post-order.
    size[it->first] += 1;
    if (it->second != 0) size[it->second] += size[it->first];
  }
  int64_t mid_root = 1, best_gap = INT64_MAX;
  std::vector<int64_t> managers;
  for (const auto& [id, n] : size) {
    if (std::llabs(n - 10000) < best_gap)
      best_gap = std::llabs(n - 10000), mid_root = id;
    if (n > 1) managers.push_back(id);
  }

  // 6. Mid-level subtree latency; first chunk for other roots.
  StreamSubtreeRequest mid;
  mid.set_root_id(mid_root);
  std::vector<double> mid_ms;
  double first_chunk_max = first_chunk_root;
  for (int i = 0; i < absl::GetFlag(FLAGS_latency_calls); ++i) {
    StreamFigures f = StreamOnce(stub.get(), mid);
    mid_ms.push_back(f.seconds * 1000);
    first_chunk_max = std::max(first_chunk_max, f.first_chunk_ms);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50; ++i) {
    StreamSubtreeRequest any;
    any.set_root_id(managers[rng() % managers.size()]);
    first_chunk_max =
        std::max(first_chunk_max, StreamOnce(stub.get(), any).first_chunk_ms);
  }

  // 7. 200 streams at once: 150 clients that read one chunk of the whole
  // organisation and stop (their windows stay at the initial 64 KiB), 50
  // that keep streaming the mid-level subtree. Server RSS growth, and how
  // many fast streams completed.
  int64_t stuck_rss_kib = 0;
  int fast_done = 0;
  {
    const int64_t idle = RssKiB(server);
    grpc::ChannelArguments slow_args;
    slow_args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    auto slow_stub = OrgDataService::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), slow_args));
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<SubtreeChunk>>> stuck;
    for (int i = 0; i < 150; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      stuck.push_back(slow_stub->StreamSubtree(contexts.back().get(), whole));
      SubtreeChunk chunk;
      stuck.back()->Read(&chunk);
    }
    std::atomic<int> done_count{0};
    std::vector<std::thread> fast;
    for (int i = 0; i < 50; ++i) {
      fast.emplace_back([&] {
        for (int k = 0; k < 5; ++k) {
          if (StreamOnce(stub.get(), mid).nodes > 0) ++done_count;
        }
      });
    }
    for (auto& t : fast) t.join();
    stuck_rss_kib = RssKiB(server) - idle;
    fast_done = done_count.load();
    for (auto& c : contexts) c->TryCancel();
    for (auto& r : stuck) r->Finish();
  }
  // The floor serves a real answer: the depth-2 subtree of a manager whose
  // answer has the mean size of the load's answers.
  SubtreeChunk ready;
  {
    std::map<int64_t, int64_t> children;
    for (const auto& [id, manager] : links) {
      if (manager != 0) ++children[manager];
    }
    std::map<int64_t, int64_t> depth2;  // Nodes within depth 2 of a manager.
    for (int64_t m : managers) depth2[m] = 1 + children[m];
    for (const auto& [id, manager] : links) {
      if (manager != 0 && children.count(id)) depth2[manager] += children[id];
    }
    double mean = 0;
    for (const auto& [m, n] : depth2) mean += n;
    mean /= std::max<size_t>(1, depth2.size());
    int64_t typical = managers.front();
    for (const auto& [m, n] : depth2) {
      if (std::abs(n - mean) < std::abs(depth2[typical] - mean)) typical = m;
    }
    grpc::ClientContext context;
    StreamSubtreeRequest request;
    request.set_root_id(typical);
    request.set_max_depth(2);
    auto reader = stub->StreamSubtree(&context, request);
    SubtreeChunk chunk;
    while (reader->Read(&chunk)) ready.MergeFrom(chunk);
    if (!reader->Finish().ok() || ready.nodes_size() == 0) {
      Die("cannot read the floor's chunk");
    }
  }

  // 8. Load against the real server and against the gRPC floor, in a
  // process of its own as the real server is: the bench binary serving
  // `ready` from a trivial handler, on the callback API (as StreamSubtree)
  // and on the sync API. The three take turns in short rounds, so that a
  // change in the machine's speed (this VM's drifts by minutes) falls on
  // all three alike.
  const std::string chunk_file = dir + "/floor_chunk.bin";
  {
    std::ofstream out(chunk_file, std::ios::binary);
    ready.SerializeToOstream(&out);
  }
  ServerProcess callback_server =
      StartServer({"/proc/self/exe", "--floor_server=callback",
                   "--floor_chunk=" + chunk_file},
                  dir, "floor_callback");
  ServerProcess sync_server = StartServer(
      {"/proc/self/exe", "--floor_server=sync", "--floor_chunk=" + chunk_file},
      dir, "floor_sync");
  const int rounds = std::max(1, absl::GetFlag(FLAGS_load_rounds));
  const absl::Duration length =
      absl::Seconds(absl::GetFlag(FLAGS_load_seconds)) / rounds;
  const int clients = absl::GetFlag(FLAGS_clients);
  std::fprintf(stderr, "pulse_bench: load test on pid %d\n", server);
  const std::string compare_bin = absl::GetFlag(FLAGS_compare_server);
  ServerProcess compare_server;
  if (!compare_bin.empty()) {
    compare_server =
        StartServer({compare_bin, "serve", "--db=" + db, "--listen=127.0.0.1:0",
                     absl::StrCat("--admin_token=", kBenchToken)},
                    dir, "compare_server");
  }
  LoadSamples real_samples, callback_samples, sync_samples, compare_samples,
      compare_mixed_samples;
  // Mixed rounds: the same read load while a writer commits
  // --writes_per_second single-change ApplyChanges calls.
  LoadSamples mixed_samples;
  std::vector<double> mixed_write_ms;
  // New employees take ids above any present (a reused database holds the
  // hires of earlier runs).
  int64_t next_id = 10 * employees;
  for (const auto& [id, manager] : links) next_id = std::max(next_id, id);
  ++next_id;
  WriteLoad writes{absl::GetFlag(FLAGS_writes_per_second), &next_id,
                   &mixed_write_ms};
  std::vector<double> compare_write_ms;
  WriteLoad compare_writes{writes.per_second, &next_id, &compare_write_ms};
  for (int r = 0; r < rounds; ++r) {
    Load(real_server, managers, clients, length, r, &real_samples);
    Load(real_server, managers, clients, length, r, &mixed_samples, writes);
    if (writes.per_second > 0) {
      // The server checkpoints the round's writes after they commit: done
      // here, outside the measured rounds, so that the next read-only
      // round does not pay for the mixed one's (in the mixed rounds it
      // runs alongside and is counted).
      SQLite::Database(db, SQLite::OPEN_READWRITE)
          .exec("PRAGMA wal_checkpoint(PASSIVE)");
    }
    Load(callback_server, managers, clients, length, r, &callback_samples);
    Load(sync_server, managers, clients, length, r, &sync_samples);
    if (!compare_bin.empty()) {
      Load(compare_server, managers, clients, length, r, &compare_samples);
      if (writes.per_second > 0) {
        Load(compare_server, managers, clients, length, r,
             &compare_mixed_samples, compare_writes);
        SQLite::Database(db, SQLite::OPEN_READWRITE)
            .exec("PRAGMA wal_checkpoint(PASSIVE)");
      }
    }
  }
  if (!compare_bin.empty()) {
    StopServer(compare_server);
    const LoadFigures f = compare_samples.Figures();
    std::printf(
        "\n--compare_server %s under load: %.0f/s (%.2fx this build's), "
        "p50 / p99 %.2f / %.2f ms, server CPU per stream %.0f us (this "
        "build's: %.0f us)\n",
        compare_bin.c_str(), f.streams_per_second,
        f.streams_per_second / real_samples.Figures().streams_per_second,
        f.p50_ms, f.p99_ms, f.server_cpu_us,
        real_samples.Figures().server_cpu_us);
    if (writes.per_second > 0) {
      const LoadFigures m = compare_mixed_samples.Figures();
      const LoadFigures ours = mixed_samples.Figures();
      std::printf(
          "--compare_server %s under mixed load: %.0f/s (%.2fx this build's "
          "%.0f/s), read p99 %.2f ms (this build's %.2f), write p99 %.2f ms "
          "(this build's %.2f)\n",
          compare_bin.c_str(), m.streams_per_second,
          m.streams_per_second / ours.streams_per_second,
          ours.streams_per_second, m.p99_ms, ours.p99_ms,
          Percentile(compare_write_ms, 0.99), Percentile(mixed_write_ms, 0.99));
    }
  }
  StopServer(sync_server);
  StopServer(callback_server);

  // 8b. The client: `pulse tree 1` in each format, output discarded,
  // against the same stream read and discarded here (the same request:
  // with each node's count of reports, but for DOT). They take turns; the
  // best of each counts.
  struct ClientFigure {
    const char* format;
    double client_s = 1e9, stream_s = 1e9;
  };
  std::vector<ClientFigure> client_figures = {{"text"}, {"json"}, {"dot"}};
  for (ClientFigure& f : client_figures) {
    StreamSubtreeRequest same = whole;
    same.set_include_direct_reports(std::string(f.format) != "dot");
    for (int r = 0; r < std::min(repeats, 3); ++r) {
      f.stream_s = std::min(f.stream_s, StreamOnce(stub.get(), same).seconds);
      f.client_s = std::min(
          f.client_s,
          absl::ToDoubleSeconds(
              Run({"/bin/sh", "-c",
                   absl::StrCat(bin, "/client/pulse tree 1 --format=", f.format,
                                " --timeout=600s --addr=", address,
                                " > /dev/null")},
                  dir, "client")));
    }
  }

  // 8c. The change feed: commit-to-event latency with 1 and 100 watchers,
  // then 1,000 idle watchers' cost to the server.
  const WatchLatency watch_one =
      MeasureWatchLatency(address, 1, 200, managers[0], &next_id);
  const WatchLatency watch_hundred =
      MeasureWatchLatency(address, 100, 200, managers[0], &next_id);
  // The idle watchers on a server of their own, started for them and
  // answering one read first: by now the main server's heap holds memory
  // that earlier sections freed (the stuck streams' among it), which the
  // watchers would reuse unseen.
  IdleWatchers idle;
  {
    const ServerProcess watched = ServePulse("watch_server");
    auto watched_stub = OrgDataService::NewStub(grpc::CreateChannel(
        watched.address, grpc::InsecureChannelCredentials()));
    StreamSubtreeRequest one;
    one.set_root_id(managers[0]);
    one.set_max_depth(2);
    StreamOnce(watched_stub.get(), one);
    idle = MeasureIdleWatchers(watched.address, watched.pid, 1000, 5);
    StopServer(watched);
  }

  // 9. Writes, the server otherwise idle: 1,000 new employees in one
  // ApplyChanges, and the move of a subtree of about 10,000 people to
  // another manager and back (best of --repeats each). The batch and the
  // move there each follow a pause in which the server's checkpointer
  // catches up (as the plain-SQL floor below checkpoints between its
  // writes, untimed); the move back follows at once, so it also pays for
  // the checkpoint of the move before it (back to back).
  double batch_best = 1e9, move_best = 1e9, back_to_back_best = 1e9;
  // The server's RSS over what it was before a write, at the write's peak.
  int64_t write_rss_growth_kib = 0;
  const absl::Duration catch_up = absl::Seconds(1);
  // The subtree moves under the top of the largest subtree outside it
  // (none in a tiny organisation, whose ~10,000 is the whole of it).
  const int64_t moved_root = mid_root;
  int64_t move_to = 0;
  auto inside_moved = [&](int64_t id) {
    for (int64_t at = id; at != 0; at = manager_of[at]) {
      if (at == moved_root) return true;
    }
    return false;
  };
  for (const auto& [id, n] : size) {
    if (id != manager_of[moved_root] && !inside_moved(id) &&
        (move_to == 0 || n > size[move_to]) && manager_of[id] != 0) {
      move_to = id;
    }
  }
  {
    std::mt19937_64 write_rng(11);
    for (int r = 0; r < repeats; ++r) {
      pulse::orgdata::v1::ApplyChangesRequest batch;
      for (int i = 0; i < 1000; ++i) {
        *batch.add_changes() =
            NewEmployee(next_id++, managers[write_rng() % managers.size()]);
      }
      absl::SleepFor(catch_up);
      const double batch_ms = SampleRssGrowth(
          server, [&] { return TimedApply(stub.get(), batch); },
          &write_rss_growth_kib);
      if (batch_ms < 0) Die("the 1,000-upsert ApplyChanges failed");
      batch_best = std::min(batch_best, batch_ms);
      absl::SleepFor(catch_up);
      bool back = false;
      for (int64_t to : {move_to, manager_of[moved_root]}) {
        if (move_to == 0 || manager_of[moved_root] == 0) break;
        pulse::orgdata::v1::ApplyChangesRequest move;
        move.add_changes()->mutable_move_employee()->set_id(moved_root);
        move.mutable_changes(0)->mutable_move_employee()->set_new_manager_id(
            to);
        const double move_ms = SampleRssGrowth(
            server, [&] { return TimedApply(stub.get(), move); },
            &write_rss_growth_kib);
        if (move_ms < 0) Die("the subtree move failed");
        double& best = back ? back_to_back_best : move_best;
        best = std::min(best, move_ms);
        back = true;
      }
    }
  }
  StopServer(real_server);

  // 9b. The same writes in plain SQL on one connection of this process,
  // the server stopped: what the database itself takes on this machine
  // now, the floor the ApplyChanges figures are judged against. The
  // connection is configured as the server's writer; its checkpoints run
  // between the timed writes, as the server's run beside them.
  double plain_batch_best = 1e9, plain_move_best = 1e9;
  double log_batch_with = 1e9, log_batch_without = 1e9;
  double log_move_with = 1e9, log_move_without = 1e9;
  try {
    SQLite::Database plain(db, SQLite::OPEN_READWRITE);
    plain.exec("PRAGMA foreign_keys = ON");
    plain.exec("PRAGMA synchronous = NORMAL");
    plain.exec("PRAGMA cache_size = -65536");
    plain.exec("PRAGMA wal_autocheckpoint = 0");
    SQLite::Statement insert(
        plain,
        "INSERT INTO employees (id, manager_id, full_name, title, email, "
        "hire_date) VALUES (?, ?, ?, 'Engineer', ?, '2026-12-01')");
    SQLite::Statement move(plain,
                           "UPDATE employees SET manager_id = ? WHERE id = ?");
    std::mt19937_64 write_rng(12);
    for (int r = 0; r < repeats; ++r) {
      plain.exec("PRAGMA wal_checkpoint(PASSIVE)");
      absl::Time start = absl::Now();
      SQLite::Transaction txn(plain, SQLite::TransactionBehavior::IMMEDIATE);
      for (int i = 0; i < 1000; ++i) {
        const int64_t id = next_id++;
        insert.bind(1, id);
        insert.bind(2, managers[write_rng() % managers.size()]);
        insert.bind(3, absl::StrCat("Bench Hire ", id));
        insert.bind(4, absl::StrCat("bench.hire.", id, "@pulse.example"));
        insert.exec();
        insert.reset();
      }
      txn.commit();
      plain_batch_best = std::min(
          plain_batch_best, absl::ToDoubleMilliseconds(absl::Now() - start));
      for (int64_t to : {move_to, manager_of[moved_root]}) {
        if (move_to == 0 || manager_of[moved_root] == 0) break;
        plain.exec("PRAGMA wal_checkpoint(PASSIVE)");
        start = absl::Now();
        move.bind(1, to);
        move.bind(2, moved_root);
        move.exec();
        move.reset();
        plain_move_best = std::min(
            plain_move_best, absl::ToDoubleMilliseconds(absl::Now() - start));
      }
    }
    // 9c. What the change log adds to those writes: the same 1,000 inserts
    // and the same move with and without the log's triggers, in turns,
    // each in a transaction rolled back (best of each).
    for (int r = 0; r < 2 * repeats; ++r) {
      // Which goes first alternates: the first of a pair warms the cache.
      for (bool with_log : {r % 2 == 0, r % 2 != 0}) {
        if (move_to == 0 || manager_of[moved_root] == 0) break;
        plain.exec("PRAGMA wal_checkpoint(PASSIVE)");
        SQLite::Transaction txn(plain, SQLite::TransactionBehavior::IMMEDIATE);
        if (!with_log) {
          plain.exec(
              "DROP TRIGGER change_log_employee_insert; DROP TRIGGER "
              "change_log_employee_update; DROP TRIGGER "
              "change_log_employee_delete");
        }
        absl::Time start = absl::Now();
        for (int i = 0; i < 1000; ++i) {
          const int64_t id = next_id + i;  // Rolled back: reused.
          insert.bind(1, id);
          insert.bind(2, managers[i % managers.size()]);
          insert.bind(3, absl::StrCat("Bench Hire ", id));
          insert.bind(4, absl::StrCat("bench.hire.", id, "@pulse.example"));
          insert.exec();
          insert.reset();
        }
        const double batch_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
        start = absl::Now();
        move.bind(1, move_to);
        move.bind(2, moved_root);
        move.exec();
        move.reset();
        const double move_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
        (with_log ? log_batch_with : log_batch_without) =
            std::min(with_log ? log_batch_with : log_batch_without, batch_ms);
        (with_log ? log_move_with : log_move_without) =
            std::min(with_log ? log_move_with : log_move_without, move_ms);
      }  // Rolled back.
    }
  } catch (const SQLite::Exception& e) {
    Die(absl::StrCat("plain-SQL writes: ", e.what()));
  }
  const LoadFigures real = real_samples.Figures();
  const LoadFigures mixed = mixed_samples.Figures();
  const double mixed_ratio =
      mixed.streams_per_second / std::max(real.streams_per_second, 1e-9);
  const double write_p50 = Percentile(mixed_write_ms, 0.5);
  const double write_p99 = Percentile(mixed_write_ms, 0.99);
  const LoadFigures callback_floor = callback_samples.Figures();
  const LoadFigures sync_floor = sync_samples.Figures();

  // Report.
  const double e2e_rate = nodes / e2e_best;
  const double ratio_floor = e2e_best / floor_best;
  const double ratio_reference = e2e_best / reference_best;
  // Judged against the faster of the two trivial handlers.
  const bool sync_faster =
      sync_floor.streams_per_second > callback_floor.streams_per_second;
  const LoadFigures& grpc_floor = sync_faster ? sync_floor : callback_floor;
  const double load_ratio =
      real.streams_per_second / grpc_floor.streams_per_second;
  const double rss_mib = rss_growth_kib / 1024.0;
  const double upgrade_ms = absl::ToDoubleMilliseconds(upgrade);
  const double seed_s = absl::ToDoubleSeconds(seed);
  auto verdict = [](bool ok) { return ok ? "PASS" : "FAIL"; };
  std::printf(
      "\nPulse benchmark: %lld employees, %d repeats, %d clients on %d "
      "channels x %.0f s per server (%d rounds)\n\n",
      static_cast<long long>(employees), repeats, clients,
      std::max(1, absl::GetFlag(FLAGS_channels)),
      absl::GetFlag(FLAGS_load_seconds), rounds);
  std::printf("| measurement | figure |\n| --- | --- |\n");
  std::printf("| pulse-schema upgrade head, new file | %.1f ms |\n",
              upgrade_ms);
  std::printf("| seed %lld employees | %.2f s |\n",
              static_cast<long long>(employees), seed_s);
  std::printf(
      "| whole org end-to-end (gRPC, loopback) | %.3f s, %.0f nodes/s |\n",
      e2e_best, e2e_rate);
  std::printf("| whole org in-process floor (libs/hierarchy) | %.3f s |\n",
              floor_best);
  std::printf("| whole org sqlite3 WITH RECURSIVE reference | %.3f s |\n",
              reference_best);
  std::printf(
      "| first chunk, root 1 / worst of %d roots | %.2f ms / %.2f ms |\n",
      absl::GetFlag(FLAGS_latency_calls) + 51, first_chunk_root,
      first_chunk_max);
  std::printf("| server RSS growth while streaming | %.1f MiB |\n", rss_mib);
  std::printf(
      "| whole org, read_mask id, manager_id, full_name / all fields: time; "
      "bytes per node | %.3f s / %.3f s; %.1f B / %.1f B |\n",
      name_only.seconds, all_fields.seconds,
      static_cast<double>(name_only.bytes) /
          std::max<int64_t>(1, name_only.nodes),
      static_cast<double>(all_fields.bytes) /
          std::max<int64_t>(1, all_fields.nodes));
  std::printf(
      "| SearchEmployees, 3-letter prefixes, p50 / p99 (%zu calls, %.1f "
      "results each) | %.2f / %.2f ms |\n",
      search_ms.size(),
      static_cast<double>(search_hits) / std::max<size_t>(1, search_ms.size()),
      Percentile(search_ms, 0.5), Percentile(search_ms, 0.99));
  std::printf("| mid-level subtree (%lld nodes) p50 / p99 | %.2f / %.2f ms |\n",
              static_cast<long long>(size[mid_root]), Percentile(mid_ms, 0.5),
              Percentile(mid_ms, 0.99));
  std::printf(
      "| load: depth-2 streams/s, p50 / p99, server / client CPU per stream | "
      "%.0f/s, %.2f / %.2f ms, %.0f / %.0f us |\n",
      real.streams_per_second, real.p50_ms, real.p99_ms, real.server_cpu_us,
      real.client_cpu_us);
  std::printf(
      "| mixed load: the same reads while %.0f ApplyChanges/s commit: "
      "streams/s, p50 / p99; writes p50 / p99 (%zu writes) | %.0f/s, %.2f / "
      "%.2f ms; %.2f / %.2f ms |\n",
      absl::GetFlag(FLAGS_writes_per_second), mixed_write_ms.size(),
      mixed.streams_per_second, mixed.p50_ms, mixed.p99_ms, write_p50,
      write_p99);
  std::printf(
      "| ApplyChanges with 1,000 new employees / move of a %lld-node subtree "
      "/ the move back at once, back to back (best) | %.1f ms / %.1f ms / "
      "%.1f ms |\n",
      static_cast<long long>(size[mid_root]), batch_best, move_best,
      back_to_back_best);
  std::printf(
      "| server RSS growth during one of those writes (peak) | %.1f "
      "MiB |\n",
      write_rss_growth_kib / 1024.0);
  std::printf(
      "| change feed: committed write to event at the watcher, p50 / p99, "
      "1 watcher; 100 watchers (50 writes/s, 200 writes) | %.2f / %.2f ms; "
      "%.2f / %.2f ms (%lld missed) |\n",
      watch_one.p50_ms, watch_one.p99_ms, watch_hundred.p50_ms,
      watch_hundred.p99_ms,
      static_cast<long long>(watch_one.missing + watch_hundred.missing));
  std::printf(
      "| 1,000 idle watchers: server RSS growth, server CPU while idle | %.1f "
      "MiB, %.2f %% (%d opened) |\n",
      idle.rss_growth_mib, idle.cpu_percent, idle.opened);
  std::printf(
      "| the change log's cost in plain SQL: 1,000 inserts / the move, with "
      "/ without its triggers | %.1f / %.1f ms; %.1f / %.1f ms |\n",
      log_batch_with, log_batch_without, log_move_with, log_move_without);
  for (const auto& f : client_figures) {
    std::printf(
        "| pulse tree 1 --format=%s > /dev/null / the same stream discarded | "
        "%.2f s / %.2f s |\n",
        f.format, f.client_s, f.stream_s);
  }
  std::printf(
      "| 150 stuck + 50 fast streams: server RSS growth, fast streams done | "
      "%.1f MiB, %d of 250 |\n",
      stuck_rss_kib / 1024.0, fast_done);
  std::printf(
      "| gRPC floor: trivial callback handler streams/s, p50 / p99, server / "
      "client CPU per stream | %.0f/s, %.2f / %.2f ms, %.0f / %.0f us |\n",
      callback_floor.streams_per_second, callback_floor.p50_ms,
      callback_floor.p99_ms, callback_floor.server_cpu_us,
      callback_floor.client_cpu_us);
  std::printf(
      "| gRPC floor: trivial sync handler streams/s, p50 / p99, server / "
      "client "
      "CPU per stream | %.0f/s, %.2f / %.2f ms, %.0f / %.0f us |\n",
      sync_floor.streams_per_second, sync_floor.p50_ms, sync_floor.p99_ms,
      sync_floor.server_cpu_us, sync_floor.client_cpu_us);
  std::printf("\n| target | figure | verdict |\n| --- | --- | --- |\n");
  std::printf("| end-to-end <= 1.3 x in-process floor | %.2f x | %s |\n",
              ratio_floor, verdict(ratio_floor <= 1.3));
  std::printf("| end-to-end <= 0.3 x sqlite3 reference | %.2f x | %s |\n",
              ratio_reference, verdict(ratio_reference <= 0.3));
  // Latency targets scale with the machine: the 5 ms set when the gRPC
  // floor's p99 was 1.93 ms is judged as 2.5 x that p99 in this run.
  const double latency_bound = 2.5 * grpc_floor.p99_ms;
  std::printf(
      "| first chunk, any root (5 ms) <= 2.5 x gRPC floor p99 (%.2f ms) | "
      "%.2f ms | %s |\n",
      latency_bound, first_chunk_max,
      verdict(first_chunk_max <= latency_bound));
  std::printf("| server RSS growth <= 64 MiB | %.1f MiB | %s |\n", rss_mib,
              verdict(rss_mib <= 64));
  const double search_p99 = Percentile(search_ms, 0.99);
  std::printf(
      "| search p99, 3-letter prefix (5 ms) <= 2.5 x gRPC floor p99 (%.2f "
      "ms) | %.2f ms | %s |\n",
      latency_bound, search_p99, verdict(search_p99 <= latency_bound));
  std::printf(
      "| load >= 0.7 x gRPC floor streams/s (the faster, %s) | %.2f x | %s "
      "|\n",
      sync_faster ? "sync" : "callback", load_ratio,
      verdict(load_ratio >= 0.7));
  std::printf(
      "| load p99 (5 ms) <= 2.5 x gRPC floor p99 (%.2f ms) | %.2f ms | %s |\n",
      latency_bound, real.p99_ms, verdict(real.p99_ms <= latency_bound));
  std::printf(
      "| mixed load streams/s >= 0.8 x read-only (same run) | %.2f x | %s |\n",
      mixed_ratio, verdict(mixed_ratio >= 0.8));
  // As the 5 ms targets: 10 and 20 ms were set for a machine whose gRPC
  // floor p99 was 1.93 ms, so they are judged as 10 / 1.93 and 20 / 1.93
  // times this run's floor p99.
  const double mixed_read_bound = 10 / 1.93 * grpc_floor.p99_ms;
  const double mixed_write_bound = 20 / 1.93 * grpc_floor.p99_ms;
  std::printf(
      "| mixed load read p99 (10 ms) <= 5.2 x gRPC floor p99 (%.1f ms) | "
      "%.2f ms | %s |\n",
      mixed_read_bound, mixed.p99_ms,
      verdict(mixed.p99_ms <= mixed_read_bound));
  std::printf(
      "| mixed load write p99 (20 ms) <= 10.4 x gRPC floor p99 (%.1f ms) | "
      "%.2f ms | %s |\n",
      mixed_write_bound, write_p99, verdict(write_p99 <= mixed_write_bound));
  // The write targets (50 and 100 ms) are judged as ratios to the same
  // writes in plain SQL in this run (see docs/PERFORMANCE.md).
  const double batch_ratio = batch_best / plain_batch_best;
  const double move_ratio = move_best / plain_move_best;
  std::printf(
      "| ApplyChanges, 1,000 upserts (50 ms) <= 1.5 x plain SQL (%.1f ms) | "
      "%.1f ms, %.2f x | %s |\n",
      plain_batch_best, batch_best, batch_ratio, verdict(batch_ratio <= 1.5));
  std::printf(
      "| move a ~10,000-node subtree (100 ms) <= 1.5 x plain SQL (%.1f ms) | "
      "%.1f ms, %.2f x | %s |\n",
      plain_move_best, move_best, move_ratio, verdict(move_ratio <= 1.5));
  std::printf(
      "| watch latency p99, 100 watchers (20 ms) <= 10.4 x gRPC floor p99 "
      "(%.1f ms), none missed | %.2f ms | %s |\n",
      mixed_write_bound, watch_hundred.p99_ms,
      verdict(watch_hundred.p99_ms <= mixed_write_bound &&
              watch_hundred.missing == 0));
  const double log_ratio = std::max(log_batch_with / log_batch_without,
                                    log_move_with / log_move_without);
  std::printf(
      "| the change log's cost <= 1.5 x without it (inserts, move) | %.2f x, "
      "%.2f x | %s |\n",
      log_batch_with / log_batch_without, log_move_with / log_move_without,
      verdict(log_ratio <= 1.5));
  for (const auto& f : client_figures) {
    const double ratio = f.client_s / f.stream_s;
    std::printf(
        "| pulse tree --format=%s <= 1.5 x the same stream discarded | %.2f x "
        "| %s |\n",
        f.format, ratio, verdict(ratio <= 1.5));
  }
  std::printf("| upgrade head <= 50 ms | %.1f ms | %s |\n", upgrade_ms,
              reuse ? "n/a (database reused)" : verdict(upgrade_ms <= 50));
  // Seeding is judged against a floor in the same run since issue 15:
  // <= 1.5x sqlite3 .import of the same rows (bench/writes.sh), not the
  // 5 s it had when this VM was three times faster.
  std::printf(
      "| seed %lld | %.2f s | judged in bench/writes.sh (<= 1.5 x sqlite3 "
      ".import, same run) |\n",
      static_cast<long long>(employees), seed_s);
  std::printf(
      "\n{\"employees\":%lld,\"upgrade_ms\":%.1f,\"seed_s\":%.3f,"
      "\"e2e_s\":%.4f,\"e2e_nodes_per_s\":%.0f,\"floor_s\":%.4f,"
      "\"reference_s\":%.4f,\"e2e_over_floor\":%.3f,\"e2e_over_reference\":%."
      "3f,"
      "\"first_chunk_root_ms\":%.3f,\"first_chunk_max_ms\":%.3f,"
      "\"rss_growth_mib\":%.1f,\"mid_nodes\":%lld,\"mid_p50_ms\":%.3f,"
      "\"mid_p99_ms\":%.3f,\"load_streams_per_s\":%.0f,\"load_p50_ms\":%.3f,"
      "\"load_p99_ms\":%.3f,\"load_server_cpu_us\":%.1f,"
      "\"load_client_cpu_us\":%.1f,"
      "\"callback_floor_streams_per_s\":%.0f,"
      "\"callback_floor_server_cpu_us\":%.1f,"
      "\"sync_floor_streams_per_s\":%.0f,\"sync_floor_server_cpu_us\":%.1f,"
      "\"load_over_grpc_floor\":%.3f,"
      "\"stuck_rss_growth_mib\":%.1f,"
      "\"stuck_fast_done\":%d,\"mixed_streams_per_s\":%.0f,"
      "\"mixed_over_read_only\":%.3f,\"mixed_read_p99_ms\":%.3f,"
      "\"mixed_write_p99_ms\":%.3f,\"apply_1000_ms\":%.2f,"
      "\"move_subtree_ms\":%.2f,\"move_back_to_back_ms\":%.2f,"
      "\"write_rss_growth_mib\":%.1f,"
      "\"plain_insert_1000_ms\":%.2f,"
      "\"plain_move_subtree_ms\":%.2f,\"grpc_floor_p99_ms\":%.3f,"
      "\"watch1_p99_ms\":%.3f,\"watch100_p50_ms\":%.3f,"
      "\"watch100_p99_ms\":%.3f,\"idle_watchers_rss_mib\":%.1f,"
      "\"idle_watchers_cpu_percent\":%.2f,\"log_batch_ratio\":%.3f,"
      "\"log_move_ratio\":%.3f,\"search_p50_ms\":%.3f,"
      "\"search_p99_ms\":%.3f,\"mask_s\":%.4f,\"all_fields_s\":%.4f,"
      "\"mask_bytes_per_node\":%.1f,\"all_bytes_per_node\":%.1f}\n",
      static_cast<long long>(employees), upgrade_ms, seed_s, e2e_best, e2e_rate,
      floor_best, reference_best, ratio_floor, ratio_reference,
      first_chunk_root, first_chunk_max, rss_mib,
      static_cast<long long>(size[mid_root]), Percentile(mid_ms, 0.5),
      Percentile(mid_ms, 0.99), real.streams_per_second, real.p50_ms,
      real.p99_ms, real.server_cpu_us, real.client_cpu_us,
      callback_floor.streams_per_second, callback_floor.server_cpu_us,
      sync_floor.streams_per_second, sync_floor.server_cpu_us, load_ratio,
      stuck_rss_kib / 1024.0, fast_done, mixed.streams_per_second, mixed_ratio,
      mixed.p99_ms, write_p99, batch_best, move_best, back_to_back_best,
      write_rss_growth_kib / 1024.0, plain_batch_best, plain_move_best,
      grpc_floor.p99_ms, watch_one.p99_ms, watch_hundred.p50_ms,
      watch_hundred.p99_ms, idle.rss_growth_mib, idle.cpu_percent,
      log_batch_with / log_batch_without, log_move_with / log_move_without,
      Percentile(search_ms, 0.5), search_p99, name_only.seconds,
      all_fields.seconds,
      static_cast<double>(name_only.bytes) /
          std::max<int64_t>(1, name_only.nodes),
      static_cast<double>(all_fields.bytes) /
          std::max<int64_t>(1, all_fields.nodes));
  return 0;
}
