// pulse chart in a real browser (issue 19): the real client writes the
// chart of a 10,000-person organisation served by a real pulse-orgdata,
// and headless Chromium opens it. A driver script, appended to a copy of
// the page, does what a person would (click a branch's toggle, type a name
// in the search box and press Enter) and writes what is then on screen
// into the page, which Chromium prints.

#include <signal.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "tests/test_util/seeded_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunProcess;
using testing::RunResult;

constexpr char kChromium[] = "/usr/bin/chromium";

// Whether the box of employee `id` is on screen: scrolled to, with size,
// and the topmost element at its centre.
constexpr char kDriverHead[] = R"js(
<script>
(function () {
  function box(id) {
    const li = document.querySelector('li[data-id="' + id + '"]');
    return li ? li.querySelector(":scope > .box") : null;
  }
  function visible(id) {
    const b = box(id);
    if (!b) return false;
    b.scrollIntoView({block: "center", inline: "center"});
    const r = b.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const hit = document.elementFromPoint(r.left + r.width / 2,
                                          r.top + r.height / 2);
    return hit !== null && b.contains(hit);
  }
  const out = {};
)js";

constexpr char kDriverTail[] = R"js(
  const pre = document.createElement("pre");
  pre.id = "test-results";
  pre.textContent = JSON.stringify(out);
  document.body.append(pre);
})();
</script>
)js";

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateAndSeed(db_path(), 10000));
    auto db = store::Open(db_path(), store::OpenOptions());
    ASSERT_OK(db);
    db_ = *std::move(db);
    auto org = testing::Subprocess::Start(
        {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0",
         "--db=" + db_path()},
        dir_.path());
    ASSERT_OK(org);
    org_ = *std::move(org);
    auto port = testing::WaitForListeningPort(*org_, absl::Seconds(20));
    ASSERT_TRUE(port.has_value()) << org_->Stderr();
    address_ = absl::StrCat("127.0.0.1:", *port);
  }

  void TearDown() override {
    if (org_ == nullptr) return;
    org_->Signal(SIGTERM);
    EXPECT_EQ(org_->Wait(absl::Seconds(20)), 0) << org_->Stderr();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  // The chart as `pulse chart` writes it.
  std::string Chart(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {PULSE_CLIENT_BIN, "chart"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult chart = RunProcess(argv, dir_.path(), {"PULSE_ADDR=" + address_});
    EXPECT_EQ(chart.exit_code, 0) << chart.err;
    return chart.out;
  }

  // Opens `html` with `driver` appended in headless Chromium and returns
  // what the driver wrote (JSON, as the page's text shows it).
  std::string Drive(const std::string& html, const std::string& driver) {
    const std::string page = dir_.Join("chart.html");
    std::ofstream(page) << absl::StrReplaceAll(
        html, {{"</body>",
                absl::StrCat(kDriverHead, driver, kDriverTail, "</body>")}});
    RunResult run =
        RunProcess({kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1400,900", "--dump-dom",
                    "--virtual-time-budget=10000", "file://" + page},
                   dir_.path(), {}, absl::Seconds(120));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const std::string open = "<pre id=\"test-results\">";
    const size_t at = run.out.find(open);
    if (at == std::string::npos) {
      ADD_FAILURE() << "the driver wrote nothing; Chromium said: " << run.err;
      return "";
    }
    const size_t end = run.out.find("</pre>", at);
    return absl::StrReplaceAll(
        run.out.substr(at + open.size(), end - at - open.size()),
        {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}});
  }

  // A column of the first employee that `where` picks.
  std::string Pick(const std::string& column, const std::string& where) {
    auto q =
        db_->Prepare(absl::StrCat("SELECT ", column, " FROM employees e WHERE ",
                                  where, " ORDER BY e.id LIMIT 1"));
    EXPECT_OK(q);
    auto row = q->Step();
    EXPECT_OK(row);
    EXPECT_TRUE(row.ok() && *row) << where;
    return row.ok() && *row ? q->Text(0) : "";
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<testing::Subprocess> org_;
  std::string address_;
};

TEST_F(ChartTest, ABrowserShowsTheRootExpandsABranchAndFindsSomeoneDeep) {
  ASSERT_TRUE(std::ifstream(kChromium).good())
      << kChromium << " is missing: scripts/setup.sh installs chromium";
  // Text that must reach the page as text, not markup.
  ASSERT_OK(db_->Exec(
      "UPDATE employees SET title = 'R&D </script><b>\"lead\"' WHERE id = 1"));
  // Levels 0 to 2 start open; a person two levels down with reports (whose
  // branch starts collapsed) and one of those reports; the deepest person.
  const std::string depth2 =
      "e.manager_id IN (SELECT id FROM employees WHERE manager_id = 1) AND "
      "EXISTS (SELECT 1 FROM employees c WHERE c.manager_id = e.id)";
  const std::string branch = Pick("e.id", depth2);
  const std::string report =
      Pick("e.id", absl::StrCat("e.manager_id = ", branch));
  const std::string deepest =
      Pick("e.id",
           "length(e.org_path) = (SELECT max(length(org_path)) FROM "
           "employees)");
  const std::string deepest_name =
      Pick("e.full_name", absl::StrCat("e.id = ", deepest));
  ASSERT_GT(std::stoi(Pick("length(e.org_path) / 8",
                           absl::StrCat("e.id = ", deepest))),
            4);

  const std::string html = Chart({"1", "--depth=2"});
  // Self-contained: nothing to fetch.
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("http")));

  const std::string results = Drive(
      html,
      absl::StrCat(
          "out.root = visible(1) && box(1).querySelector('.name').textContent;"
          "out.rootTitle = box(1).querySelector('.title').textContent;"
          "out.reportBefore = visible(",
          report,
          ");"
          "box(",
          branch,
          ").querySelector('.toggle').click();"
          "out.reportAfter = visible(",
          report,
          ");"
          "out.deepBefore = box(",
          deepest,
          ") !== null;"
          "const search = document.getElementById('search');"
          "search.value = ",
          "'", deepest_name, "'",
          ";"
          "search.dispatchEvent(new KeyboardEvent('keydown', "
          "{key: 'Enter', bubbles: true}));"
          "out.deep = visible(",
          deepest,
          ");"
          "out.found = box(",
          deepest, ") !== null && box(", deepest,
          ").classList.contains('found');"
          "out.count = document.getElementById('found-count').textContent;"
          "out.legend = document.querySelectorAll('#legend li').length;"));
  const std::string root_name = Pick("e.full_name", "e.id = 1");
  EXPECT_THAT(results, HasSubstr(absl::StrCat("\"root\":\"", root_name, "\"")));
  EXPECT_THAT(results,
              HasSubstr("\"rootTitle\":\"R&D </script><b>\\\"lead\\\"\""));
  EXPECT_THAT(results, HasSubstr("\"reportBefore\":false"));
  EXPECT_THAT(results, HasSubstr("\"reportAfter\":true"));
  EXPECT_THAT(results, HasSubstr("\"deepBefore\":false"));
  EXPECT_THAT(results, HasSubstr("\"deep\":true"));
  EXPECT_THAT(results, HasSubstr("\"found\":true"));
  EXPECT_THAT(results, HasSubstr("\"count\":\"1 of 1\""));
  EXPECT_THAT(results, Not(HasSubstr("\"legend\":0")));
}

}  // namespace
}  // namespace pulse
