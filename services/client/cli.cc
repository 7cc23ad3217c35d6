// pulse: the command-line client of the Pulse services.
//
//   pulse tree ID [--depth=N] [--format=text|dot|json]
//   pulse employee ID | chain ID | summary ID | reports ID
//   pulse departments
//   pulse chart ID [--depth=N] > org.html
//   pulse search QUERY [--department=ID] [--limit=N]
//   pulse revision
//   pulse health [ADDR]     (exit 0 only when SERVING: a container probe)
//   pulse import FILE [--mode=merge|replace] [--dry_run] [--departments=F]
//
// Every flag falls back to the environment variable PULSE_<FLAG>.

#include "services/client/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/write/rows.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "pulse/schema/v1/schema.grpc.pb.h"
#include "services/client/chart.h"
#include "services/client/render.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50052",
          "The org-data service, host:port. Environment: PULSE_ADDR.");
ABSL_FLAG(std::string, schema_addr, "127.0.0.1:50051",
          "The schema service, host:port (for revision). Environment: "
          "PULSE_SCHEMA_ADDR.");
ABSL_FLAG(int, depth, 0,
          "With tree: levels below the root to show; 0 shows all. "
          "Environment: PULSE_DEPTH.");
ABSL_FLAG(std::string, format, "text",
          "With tree: text (a box-drawn tree), dot (Graphviz) or json (one "
          "node per line). Environment: PULSE_FORMAT.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM certificates to trust: talk TLS to the services. Empty means "
          "plaintext. Environment: PULSE_TLS_CA.");
ABSL_FLAG(std::string, admin_token, "",
          "With import: the org-data service's admin token, sent as "
          "authorization: Bearer TOKEN. Environment: PULSE_ADMIN_TOKEN.");
ABSL_FLAG(std::string, mode, "merge",
          "With import: merge (insert or update the listed employees) or "
          "replace (the file is the whole organisation). Environment: "
          "PULSE_MODE.");
ABSL_FLAG(bool, dry_run, false,
          "With import: validate and print what would change, writing "
          "nothing. Environment: PULSE_DRY_RUN.");
ABSL_FLAG(std::string, departments, "",
          "With import: a departments file (name, parent, head_employee_id) "
          "to send too. Environment: PULSE_DEPARTMENTS.");
ABSL_FLAG(std::string, since, "",
          "With watch: the change token to start after (a tree's snapshot "
          "or an event's token); empty: from now. Environment: PULSE_SINCE.");
ABSL_FLAG(bool, follow, false,
          "With tree: keep drawing the subtree as it changes (text), from "
          "the change feed. Environment: PULSE_FOLLOW.");
ABSL_FLAG(
    int64_t, max_events, 0,
    "With watch or tree --follow: stop after this many changes (0: run until "
    "interrupted). Environment: PULSE_MAX_EVENTS.");
ABSL_FLAG(int64_t, department, 0,
          "With search: only this department's employees (0: all). "
          "Environment: PULSE_DEPARTMENT.");
ABSL_FLAG(int, limit, 50,
          "With search: most matches to print. Environment: PULSE_LIMIT.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "How long a call may take. Environment: PULSE_TIMEOUT.");

namespace {

using pulse::orgdata::v1::OrgDataService;

constexpr char kUsage[] =
    "pulse COMMAND [ARGS] [FLAGS]\n\n"
    "Commands:\n"
    "  tree ID       draw the organisation under employee ID "
    "(--depth, --format=text|dot|json;\n"
    "                --follow: redraw it as it changes)\n"
    "  employee ID   show one employee\n"
    "  chain ID      show an employee's chain of command up to the top\n"
    "  summary ID    headcount, depth and widest span under employee ID\n"
    "  reports ID    employee ID's direct reports, by name\n"
    "  departments   the department tree with heads and headcounts\n"
    "  chart ID      an HTML org chart of the organisation under employee ID\n"
    "                to stdout (open it in a browser); levels below --depth\n"
    "                (default 2) start collapsed\n"
    "  search QUERY  employees whose name, email or title words start with\n"
    "                QUERY's words (--department=ID, --limit=N)\n"
    "  revision      the database's schema revision (schema service)\n"
    "  health [ADDR] check a service's health (ADDR or --addr); exit 0 only\n"
    "                when SERVING\n"
    "  import FILE   load employees from a CSV or JSON Lines file into the\n"
    "                service, all or nothing (--mode, --dry_run, "
    "--departments,\n"
    "                --admin_token)\n"
    "  watch [ID]    print changes as they commit, in the whole organisation\n"
    "                or under employee ID (--since=TOKEN, --format=text|json,\n"
    "                --max_events=N); runs until interrupted (so does\n"
    "                tree --follow)";

int Usage(const std::string& why) {
  std::fprintf(stderr, "pulse: %s\n\n%s\n", why.c_str(), kUsage);
  return 2;
}

// One plain sentence that says what went wrong and what to do.
int Explain(const grpc::Status& status, const std::string& address,
            const char* address_flag = "--addr") {
  std::string text;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      text = absl::StrCat("cannot reach the service at ", address, " (",
                          status.error_message(),
                          "): is it running? Start the stack with "
                          "scripts/run.sh or point ",
                          address_flag, " at it.");
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      text = absl::StrCat(
          "the service refuses to serve: ", status.error_message(), ".");
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      text = absl::StrCat("no complete answer from ", address, " within ",
                          absl::FormatDuration(absl::GetFlag(FLAGS_timeout)),
                          ": try a smaller --depth or a longer --timeout.");
      break;
    case grpc::StatusCode::DATA_LOSS:
      text = absl::StrCat(
          "the organisation data is corrupt: ", status.error_message(), ".");
      break;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::ALREADY_EXISTS:
      text = absl::StrCat(status.error_message(), ".");
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      text = absl::StrCat(
          "the service refused the write (", status.error_message(),
          "): give the org-data service's admin token with --admin_token or "
          "PULSE_ADMIN_TOKEN.");
      break;
    default:
      text = absl::StrCat("the call failed (code ",
                          static_cast<int>(status.error_code()),
                          "): ", status.error_message(), ".");
  }
  std::fprintf(stderr, "pulse: %s\n", text.c_str());
  return 1;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  auto credentials = pulse::MakeChannelCredentials(absl::GetFlag(FLAGS_tls_ca));
  if (!credentials.ok()) {
    std::fprintf(stderr, "pulse: %s\n",
                 std::string(credentials.status().message()).c_str());
    std::exit(2);
  }
  return grpc::CreateCustomChannel(address, *credentials,
                                   pulse::ClientChannelArguments());
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}

bool ParseId(const std::string& text, int64_t* id) {
  return absl::SimpleAtoi(text, id) && *id > 0;
}

void PrintEmployee(const pulse::orgdata::v1::Employee& e) {
  std::printf("#%lld %s\n  title:      %s\n  email:      %s\n",
              static_cast<long long>(e.id()), e.full_name().c_str(),
              e.title().c_str(), e.email().c_str());
  if (e.has_manager_id()) {
    std::printf("  manager:    #%lld\n",
                static_cast<long long>(e.manager_id()));
  }
  if (e.has_department_id()) {
    std::printf("  department: %lld\n",
                static_cast<long long>(e.department_id()));
  }
  std::printf("  hired:      %s\n", e.hire_date().c_str());
  if (e.has_notes()) std::printf("  notes:      %s\n", e.notes().c_str());
}

int Follow(int64_t id);

int Tree(int64_t id) {
  if (absl::GetFlag(FLAGS_follow)) return Follow(id);
  auto format = pulse::client::ParseFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Usage(std::string(format.status().message()));
  const int depth = absl::GetFlag(FLAGS_depth);
  if (depth < 0) return Usage("--depth must be 0 (all) or positive");
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  pulse::orgdata::v1::StreamSubtreeRequest request;
  request.set_root_id(id);
  request.set_max_depth(depth);
  // The text tree needs each node's count of reports to draw its branches
  // (and JSON carries it); DOT draws edges from manager ids alone, and the
  // counts cost the server an index look-up per node.
  request.set_include_direct_reports(*format != pulse::client::Format::kDot);
  auto reader = stub->StreamSubtree(&context, request);
  // Nothing else writes to stdout here; iostreams need not keep in step
  // with stdio.
  std::ios::sync_with_stdio(false);
  pulse::client::TreeRenderer renderer(*format, &std::cout, depth);
  pulse::orgdata::v1::SubtreeChunk chunk;
  bool begun = false;
  while (reader->Read(&chunk)) {
    if (!begun) renderer.Begin();
    begun = true;
    for (const auto& node : chunk.nodes()) renderer.Add(node);
    renderer.Flush();
  }
  grpc::Status status = reader->Finish();
  if (begun) renderer.End();
  if (!status.ok()) return Explain(status, address);
  return 0;
}

// pulse tree ID --follow: the subtree, redrawn (text) after every batch of
// changes from the change feed, watched from the read's snapshot. On a
// terminal each drawing replaces the last; otherwise drawings follow one
// another after a line naming the position.
int Follow(int64_t id) {
  const int depth = absl::GetFlag(FLAGS_depth);
  if (depth < 0) return Usage("--depth must be 0 (all) or positive");
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  const bool terminal = isatty(STDOUT_FILENO);
  const int64_t max_events = absl::GetFlag(FLAGS_max_events);
  int64_t seen = 0;
  std::map<int64_t, pulse::orgdata::v1::Employee> nodes;
  std::string token;
  auto read = [&]() -> int {
    grpc::ClientContext context;
    SetDeadline(&context);
    pulse::orgdata::v1::StreamSubtreeRequest request;
    request.set_root_id(id);
    auto reader = stub->StreamSubtree(&context, request);
    pulse::orgdata::v1::SubtreeChunk chunk;
    nodes.clear();
    bool first = true;
    while (reader->Read(&chunk)) {
      if (first) token = chunk.snapshot();
      first = false;
      for (const auto& n : chunk.nodes()) nodes[n.id()] = n;
    }
    grpc::Status status = reader->Finish();
    return status.ok() ? 0 : Explain(status, address);
  };
  auto draw = [&] {
    std::map<int64_t, std::vector<int64_t>> children;
    for (const auto& [node_id, n] : nodes) {
      if (node_id != id && n.has_manager_id()) {
        children[n.manager_id()].push_back(node_id);
      }
    }
    if (terminal) std::cout << "\033[H\033[2J";
    if (!nodes.count(id)) {
      std::cout << "#" << id << " is no longer in the organisation\n";
    } else {
      pulse::client::TreeRenderer renderer(pulse::client::Format::kText,
                                           &std::cout, depth);
      renderer.Begin();
      // Depth-first pre-order, siblings by id, as the stream sends them.
      std::vector<std::pair<int64_t, int>> stack = {{id, 0}};
      while (!stack.empty()) {
        auto [at, level] = stack.back();
        stack.pop_back();
        pulse::orgdata::v1::Employee n = nodes.at(at);
        n.set_depth(level);
        const auto& below = children[at];
        n.set_direct_reports(static_cast<int64_t>(below.size()));
        renderer.Add(n);
        if (depth == 0 || level < depth) {
          for (auto it = below.rbegin(); it != below.rend(); ++it) {
            stack.emplace_back(*it, level + 1);
          }
        }
      }
      renderer.Flush();
      renderer.End();
    }
    if (!terminal) std::cout << "--- at " << token << "\n";
    std::cout.flush();
  };
  if (int code = read()) return code;
  draw();
  if (token.empty()) {
    std::fprintf(stderr,
                 "pulse: the database has no change log to follow; run "
                 "'pulse-schema upgrade head'\n");
    return 1;
  }
  while (true) {
    grpc::ClientContext context;
    pulse::orgdata::v1::WatchChangesRequest request;
    request.set_since(token);
    request.set_root_id(id);
    auto reader = stub->WatchChanges(&context, request);
    pulse::orgdata::v1::WatchChangesResponse response;
    bool reload = false, stop = false;
    while (!reload && !stop && reader->Read(&response)) {
      bool changed = false;
      for (const auto& e : response.events()) {
        token = e.token();
        switch (e.kind()) {
          case pulse::orgdata::v1::CHANGE_KIND_EMPLOYEE_ADDED:
          case pulse::orgdata::v1::CHANGE_KIND_EMPLOYEE_UPDATED:
          case pulse::orgdata::v1::CHANGE_KIND_EMPLOYEE_MOVED:
            nodes[e.employee().id()] = e.employee();
            changed = true;
            break;
          case pulse::orgdata::v1::CHANGE_KIND_EMPLOYEE_DELETED:
            nodes.erase(e.employee().id());
            changed = true;
            break;
          case pulse::orgdata::v1::CHANGE_KIND_ORGANISATION_RELOADED:
            reload = true;
            break;
          default:
            break;
        }
        if (e.kind() != pulse::orgdata::v1::CHANGE_KIND_CHECKPOINT) ++seen;
        if (reload) break;
      }
      if (changed && !reload) draw();
      stop = max_events > 0 && seen >= max_events;
    }
    if (stop) {
      context.TryCancel();
      reader->Finish().IgnoreError();
      return 0;
    }
    if (reload) {
      context.TryCancel();
      reader->Finish().IgnoreError();
      if (int code = read()) return code;
      draw();
      continue;
    }
    grpc::Status status = reader->Finish();
    // A token the log no longer keeps: read afresh and go on.
    if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      if (int code = read()) return code;
      draw();
      continue;
    }
    return status.ok() ? 0 : Explain(status, address);
  }
}

// One unary call to the org-data service at --addr with the client's
// deadline. 0, or the exit code after explaining the failure.
template <typename Request, typename Response>
int CallOrgData(grpc::Status (OrgDataService::Stub::*method)(
                    grpc::ClientContext*, const Request&, Response*),
                const Request& request, Response* response) {
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = ((*stub).*method)(&context, request, response);
  return status.ok() ? 0 : Explain(status, address);
}

int Employee(int64_t id) {
  pulse::orgdata::v1::GetEmployeeRequest request;
  request.set_id(id);
  pulse::orgdata::v1::Employee e;
  if (int code = CallOrgData(&OrgDataService::Stub::GetEmployee, request, &e)) {
    return code;
  }
  PrintEmployee(e);
  return 0;
}

int Chain(int64_t id) {
  pulse::orgdata::v1::ListChainOfCommandRequest request;
  request.set_id(id);
  pulse::orgdata::v1::ListChainOfCommandResponse response;
  if (int code = CallOrgData(&OrgDataService::Stub::ListChainOfCommand, request,
                             &response)) {
    return code;
  }
  // From the top down to the employee, indented by level.
  int level = 0;
  for (int i = response.managers_size() - 1; i >= 0; --i, ++level) {
    const auto& m = response.managers(i);
    std::printf("%s%s — %s #%lld\n", std::string(level * 2, ' ').c_str(),
                m.full_name().c_str(), m.title().c_str(),
                static_cast<long long>(m.id()));
  }
  const auto& e = response.employee();
  std::printf("%s%s — %s #%lld\n", std::string(level * 2, ' ').c_str(),
              e.full_name().c_str(), e.title().c_str(),
              static_cast<long long>(e.id()));
  return 0;
}

// One line per person: "#ID Name — Title".
std::string Line(const pulse::orgdata::v1::Employee& e) {
  return absl::StrCat("#", e.id(), " ", e.full_name(),
                      e.title().empty() ? "" : " — ", e.title());
}

int Reports(int64_t id) {
  pulse::orgdata::v1::ListDirectReportsRequest request;
  request.set_id(id);
  request.set_page_size(1000);
  do {
    pulse::orgdata::v1::ListDirectReportsResponse response;
    if (int code = CallOrgData(&OrgDataService::Stub::ListDirectReports,
                               request, &response)) {
      return code;
    }
    for (const auto& e : response.reports()) {
      std::printf(
          "%s%s\n", Line(e).c_str(),
          e.direct_reports() == 0
              ? ""
              : absl::StrCat("  (", e.direct_reports(),
                             e.direct_reports() == 1 ? " report)" : " reports)")
                    .c_str());
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return 0;
}

int Chart(int64_t id) {
  const int depth = absl::GetFlag(FLAGS_depth);
  if (depth < 0) return Usage("--depth must be positive (0: 2 levels open)");
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  // The whole subtree: collapsed branches open without another call.
  std::vector<pulse::orgdata::v1::Employee> people;
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    pulse::orgdata::v1::StreamSubtreeRequest request;
    request.set_root_id(id);
    auto reader = stub->StreamSubtree(&context, request);
    pulse::orgdata::v1::SubtreeChunk chunk;
    while (reader->Read(&chunk)) {
      for (auto& node : *chunk.mutable_nodes()) {
        people.push_back(std::move(node));
      }
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return Explain(status, address);
  }
  pulse::orgdata::v1::ListDepartmentsResponse departments;
  if (int code = CallOrgData(&OrgDataService::Stub::ListDepartments,
                             pulse::orgdata::v1::ListDepartmentsRequest(),
                             &departments)) {
    return code;
  }
  const std::string html = pulse::client::ChartHtml(
      people,
      {departments.departments().begin(), departments.departments().end()},
      depth == 0 ? 2 : depth);
  std::fwrite(html.data(), 1, html.size(), stdout);
  return 0;
}

int Departments() {
  pulse::orgdata::v1::ListDepartmentsResponse response;
  if (int code = CallOrgData(&OrgDataService::Stub::ListDepartments,
                             pulse::orgdata::v1::ListDepartmentsRequest(),
                             &response)) {
    return code;
  }
  for (const auto& d : response.departments()) {
    std::printf("%s%s #%lld: %lld people (%lld directly)%s\n",
                std::string(d.depth() * 2, ' ').c_str(), d.name().c_str(),
                static_cast<long long>(d.id()),
                static_cast<long long>(d.total_headcount()),
                static_cast<long long>(d.direct_headcount()),
                d.has_head_employee_id()
                    ? absl::StrCat(", head ", d.head_employee_name(), " #",
                                   d.head_employee_id())
                          .c_str()
                    : "");
  }
  return 0;
}

int Search(const std::string& query) {
  pulse::orgdata::v1::SearchEmployeesRequest request;
  request.set_query(query);
  if (absl::GetFlag(FLAGS_department) != 0) {
    request.set_department_id(absl::GetFlag(FLAGS_department));
  }
  const int limit = absl::GetFlag(FLAGS_limit);
  if (limit <= 0) return Usage("--limit must be positive");
  int printed = 0;
  do {
    request.set_page_size(std::min(limit - printed, 1000));
    pulse::orgdata::v1::SearchEmployeesResponse response;
    if (int code = CallOrgData(&OrgDataService::Stub::SearchEmployees, request,
                               &response)) {
      return code;
    }
    for (const auto& e : response.employees()) {
      std::printf("%s <%s>\n", Line(e).c_str(), e.email().c_str());
      ++printed;
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && printed < limit);
  if (!request.page_token().empty()) {
    std::printf("(more: raise --limit to see them)\n");
  }
  return 0;
}

int Summary(int64_t id) {
  pulse::orgdata::v1::GetSubtreeSummaryRequest request;
  request.set_root_id(id);
  request.set_max_depth(absl::GetFlag(FLAGS_depth));
  pulse::orgdata::v1::SubtreeSummary s;
  if (int code =
          CallOrgData(&OrgDataService::Stub::GetSubtreeSummary, request, &s)) {
    return code;
  }
  std::printf(
      "headcount %lld, %d levels below #%lld, widest span %lld (under "
      "#%lld)\n",
      static_cast<long long>(s.headcount()), s.depth(),
      static_cast<long long>(id), static_cast<long long>(s.widest_span()),
      static_cast<long long>(s.widest_span_manager_id()));
  return 0;
}

int Revision() {
  const std::string address = absl::GetFlag(FLAGS_schema_addr);
  auto stub = pulse::schema::v1::SchemaService::NewStub(Connect(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  pulse::schema::v1::RevisionState state;
  grpc::Status status = stub->GetRevision(&context, {}, &state);
  if (!status.ok()) return Explain(status, address, "--schema_addr");
  std::printf("database at: %s\nscript heads: %s\n%s\n",
              state.current().empty()
                  ? "base"
                  : absl::StrJoin(state.current(), ", ").c_str(),
              absl::StrJoin(state.heads(), ", ").c_str(),
              state.at_head() ? "up to date"
                              : "behind the scripts: run 'pulse-schema "
                                "upgrade head'");
  if (state.migration_in_progress()) {
    std::printf("migration in progress: %s\n",
                state.migration_target().c_str());
  }
  return 0;
}

int Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(Connect(address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(
      absl::Now() + std::min(absl::GetFlag(FLAGS_timeout), absl::Seconds(5))));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return Explain(status, address, "the address");
  const bool serving =
      response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                          response.status())
                          .c_str());
  return serving ? 0 : 1;
}

// Sends the file's rows in pieces; the service applies them when the
// stream ends. Rows carry their line numbers, so errors name FILE:LINE.
int Import(const std::string& file) {
  namespace write = pulse::write;
  const std::string format_flag = absl::GetFlag(FLAGS_format);
  auto format = write::FormatFor(
      format_flag == "csv" || format_flag == "jsonl" ? format_flag : "", file);
  if (!format.ok()) return Usage(std::string(format.status().message()));
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "merge" && mode != "replace") {
    return Usage(
        absl::StrCat("--mode must be merge or replace, not '", mode, "'"));
  }
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  // No token, no header: the service then says that one is missing.
  const std::string token = absl::GetFlag(FLAGS_admin_token);
  if (!token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  pulse::orgdata::v1::ImportResponse response;
  auto stream = stub->Import(&context, &response);
  pulse::orgdata::v1::ImportRequest piece;
  piece.set_mode(mode == "replace" ? pulse::orgdata::v1::IMPORT_MODE_REPLACE
                                   : pulse::orgdata::v1::IMPORT_MODE_MERGE);
  piece.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  piece.set_source(file);
  constexpr int kRowsPerMessage = 1000;
  bool sent_any = false;
  auto flush = [&](bool force) {
    if (!force &&
        piece.rows_size() + piece.departments_size() < kRowsPerMessage) {
      return true;
    }
    sent_any = true;
    const bool ok = stream->Write(piece);
    piece.Clear();
    return ok;
  };
  // A row with a problem is sent as far as it was read (the service lists
  // it with the others); one that cannot be read at all, or a header
  // without a required column, stops the import here.
  bool open = true;
  bool unreadable = false;
  auto report = [&](const write::RowError& e) {
    std::fprintf(stderr, "pulse: %s:%lld: %s: %s\n",
                 (e.source.empty() ? file : e.source).c_str(),
                 static_cast<long long>(e.line), e.column.c_str(),
                 e.problem.c_str());
    unreadable = true;
  };
  auto add_department = [&](const write::DepartmentRow& row) {
    auto* d = piece.add_departments();
    d->set_name(row.name);
    d->set_parent(row.parent);
    if (row.head_employee_id) d->set_head_employee_id(*row.head_employee_id);
    d->set_line(row.line);
    open = open && flush(false);
    return open ? absl::OkStatus() : absl::CancelledError("the stream broke");
  };
  auto add_employee = [&](const write::EmployeeRow& row) {
    auto* r = piece.add_rows();
    r->set_line(row.line);
    r->set_id(row.id);
    if (row.manager_id) r->set_manager_id(*row.manager_id);
    r->set_full_name(row.full_name);
    r->set_title(row.title);
    r->set_email(row.email);
    r->set_department(row.department);
    r->set_hire_date(row.hire_date);
    if (row.notes) r->set_notes(*row.notes);
    open = open && flush(false);
    return open ? absl::OkStatus() : absl::CancelledError("the stream broke");
  };
  const std::string departments = absl::GetFlag(FLAGS_departments);
  absl::Status read = absl::OkStatus();
  int64_t last_rejected = 0;
  if (!departments.empty()) {
    auto dformat = write::FormatFor(
        format_flag == "csv" || format_flag == "jsonl" ? format_flag : "",
        departments);
    if (!dformat.ok()) return Usage(std::string(dformat.status().message()));
    read = write::ReadDepartments(
        departments, *dformat, /*name_file=*/true, add_department,
        [&](write::RowError e, const write::DepartmentRow* row) {
          if (row == nullptr) return report(e);
          // Once per row, however many problems it has.
          if (row->line != last_rejected) add_department(*row).IgnoreError();
          last_rejected = row->line;
        });
  }
  if (read.ok() && !unreadable) {
    read = write::ReadEmployees(
        file, *format, /*name_file=*/false, add_employee,
        [&](write::RowError e, const write::EmployeeRow* row) {
          if (row == nullptr) return report(e);
          if (row->line != last_rejected) add_employee(*row).IgnoreError();
          last_rejected = row->line;
        });
  }
  if (!read.ok() && open) {
    std::fprintf(stderr, "pulse: %s\n", std::string(read.message()).c_str());
    return 1;
  }
  if (unreadable) {
    context.TryCancel();
    return 1;
  }
  if (open &&
      (piece.rows_size() > 0 || piece.departments_size() > 0 || !sent_any)) {
    flush(true);
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return Explain(status, address);
  const auto& s = response.summary();
  std::printf(
      "%s %s: %lld added, %lld updated (%lld moved), %lld deleted, %lld "
      "unchanged; departments: %lld added, %lld updated\n",
      response.dry_run() ? "dry run, nothing written; would import"
                         : "imported",
      file.c_str(), static_cast<long long>(s.employees_added()),
      static_cast<long long>(s.employees_updated()),
      static_cast<long long>(s.employees_moved()),
      static_cast<long long>(s.employees_deleted()),
      static_cast<long long>(s.employees_unchanged()),
      static_cast<long long>(s.departments_added()),
      static_cast<long long>(s.departments_updated()));
  return 0;
}

const char* KindName(pulse::orgdata::v1::ChangeKind kind) {
  using namespace pulse::orgdata::v1;  // NOLINT: the enum's many values.
  switch (kind) {
    case CHANGE_KIND_CHECKPOINT:
      return "checkpoint";
    case CHANGE_KIND_EMPLOYEE_ADDED:
      return "added";
    case CHANGE_KIND_EMPLOYEE_UPDATED:
      return "updated";
    case CHANGE_KIND_EMPLOYEE_MOVED:
      return "moved";
    case CHANGE_KIND_EMPLOYEE_DELETED:
      return "deleted";
    case CHANGE_KIND_DEPARTMENT_ADDED:
      return "department added";
    case CHANGE_KIND_DEPARTMENT_UPDATED:
      return "department updated";
    case CHANGE_KIND_DEPARTMENT_DELETED:
      return "department deleted";
    case CHANGE_KIND_ORGANISATION_RELOADED:
      return "reloaded";
    default:
      return "unknown";
  }
}

// Prints each change as it commits: one line of text, or one JSON object
// per line. Checkpoints are printed only in JSON (they carry the token to
// resume from).
int Watch(int64_t root) {
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "text" && format != "json") {
    return Usage("watch --format is text or json");
  }
  const std::string address = absl::GetFlag(FLAGS_addr);
  auto stub = OrgDataService::NewStub(Connect(address));
  grpc::ClientContext context;
  pulse::orgdata::v1::WatchChangesRequest request;
  request.set_since(absl::GetFlag(FLAGS_since));
  request.set_root_id(root);
  auto reader = stub->WatchChanges(&context, request);
  const int64_t max_events = absl::GetFlag(FLAGS_max_events);
  int64_t seen = 0;
  pulse::orgdata::v1::WatchChangesResponse response;
  bool stopped = false;
  while (!stopped && reader->Read(&response)) {
    for (const auto& e : response.events()) {
      const bool checkpoint =
          e.kind() == pulse::orgdata::v1::CHANGE_KIND_CHECKPOINT;
      if (format == "json") {
        std::string line;
        google::protobuf::util::JsonPrintOptions options;
        options.preserve_proto_field_names = true;
        (void)google::protobuf::util::MessageToJsonString(e, &line, options);
        std::printf("%s\n", line.c_str());
      } else if (!checkpoint) {
        const auto& p = e.employee();
        if (e.has_department()) {
          std::printf("%-18s department #%lld %s\n", KindName(e.kind()),
                      static_cast<long long>(e.department().id()),
                      e.department().name().c_str());
        } else if (e.kind() ==
                   pulse::orgdata::v1::CHANGE_KIND_ORGANISATION_RELOADED) {
          std::printf("%-18s read the organisation afresh\n",
                      KindName(e.kind()));
        } else {
          std::printf(
              "%-18s #%lld %s%s%s%s\n", KindName(e.kind()),
              static_cast<long long>(p.id()), p.full_name().c_str(),
              p.title().empty() ? "" : " — ", p.title().c_str(),
              p.has_manager_id()
                  ? absl::StrCat(" (reports to #", p.manager_id(), ")").c_str()
                  : "");
        }
      }
      std::fflush(stdout);
      if (!checkpoint && max_events > 0 && ++seen >= max_events) {
        stopped = true;
        break;
      }
    }
  }
  if (stopped) {
    context.TryCancel();
    reader->Finish().IgnoreError();
    return 0;
  }
  grpc::Status status = reader->Finish();
  return status.ok() ? 0 : Explain(status, address);
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> args = pulse::ParseFlagsWithEnv(
      argc, argv,
      {"addr", "schema_addr", "depth", "format", "timeout", "tls_ca",
       "admin_token", "mode", "dry_run", "departments", "since", "max_events",
       "department", "limit"});
  if (args.empty()) return Usage("a command is required");
  const std::string& command = args[0];
  if (command == "revision") {
    if (args.size() != 1) return Usage("revision takes no argument");
    return Revision();
  }
  if (command == "health") {
    // The address as an argument (container probes), else --addr.
    if (args.size() > 2) return Usage("health takes at most one address");
    return Health(args.size() == 2 ? args[1] : absl::GetFlag(FLAGS_addr));
  }
  if (command == "import") {
    if (args.size() != 2) return Usage("import takes one file (CSV or JSONL)");
    return Import(args[1]);
  }
  if (command == "watch") {
    int64_t root = 0;
    if (args.size() > 2 || (args.size() == 2 && !ParseId(args[1], &root))) {
      return Usage("watch takes at most one employee id (a positive number)");
    }
    return Watch(root);
  }
  if (command == "departments") {
    if (args.size() != 1) return Usage("departments takes no argument");
    return Departments();
  }
  if (command == "search") {
    if (args.size() < 2) return Usage("search takes a query (words)");
    return Search(absl::StrJoin(args.begin() + 1, args.end(), " "));
  }
  if (command == "tree" || command == "employee" || command == "chain" ||
      command == "summary" || command == "reports" || command == "chart") {
    int64_t id = 0;
    if (args.size() != 2 || !ParseId(args[1], &id)) {
      return Usage(absl::StrCat(command,
                                " takes one employee id (a positive "
                                "number)"));
    }
    if (command == "tree") return Tree(id);
    if (command == "employee") return Employee(id);
    if (command == "chain") return Chain(id);
    if (command == "reports") return Reports(id);
    if (command == "chart") return Chart(id);
    return Summary(id);
  }
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace

namespace pulse::client {

int RunCli(int argc, char** argv) { return Main(argc, argv); }

}  // namespace pulse::client
