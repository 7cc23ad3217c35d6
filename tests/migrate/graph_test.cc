#include "libs/migrate/graph.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/status_matchers.h"

namespace pulse::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Script S(const std::string& id, std::vector<std::string> down) {
  Script s;
  s.id = id;
  s.down_revisions = std::move(down);
  s.file = id + ".sql";
  return s;
}

TEST(RevisionGraph, LinearChainHasOneHeadAndOrder) {
  auto g = RevisionGraph::Build({S("c", {"b"}), S("a", {}), S("b", {"a"})});
  ASSERT_OK(g);
  EXPECT_THAT(g->heads(), ElementsAre("c"));
  EXPECT_THAT(g->bases(), ElementsAre("a"));
  EXPECT_THAT(g->topological_order(), ElementsAre("a", "b", "c"));
  EXPECT_THAT(g->Closure({"b"}), ElementsAre("a", "b"));
  EXPECT_TRUE(g->IsDescendantOrSelf("c", "a"));
  EXPECT_FALSE(g->IsDescendantOrSelf("a", "c"));
}

TEST(RevisionGraph, BranchHasTwoHeadsAndMergeJoinsThem) {
  auto branched =
      RevisionGraph::Build({S("a", {}), S("b1", {"a"}), S("b2", {"a"})});
  ASSERT_OK(branched);
  EXPECT_THAT(branched->heads(), ElementsAre("b1", "b2"));
  EXPECT_THAT(branched->BranchPoints(), ElementsAre("a"));
  EXPECT_THAT(branched->Maximal({"a", "b1", "b2"}), ElementsAre("b1", "b2"));
  EXPECT_THAT(branched->Maximal({"a", "b2"}), ElementsAre("b2"));

  auto merged = RevisionGraph::Build(
      {S("a", {}), S("b1", {"a"}), S("b2", {"a"}), S("m", {"b1", "b2"})});
  ASSERT_OK(merged);
  EXPECT_THAT(merged->heads(), ElementsAre("m"));
  EXPECT_THAT(merged->topological_order(), ElementsAre("a", "b1", "b2", "m"));
  EXPECT_THAT(merged->Closure({"m"}), ElementsAre("a", "b1", "b2", "m"));
}

TEST(RevisionGraph, CycleIsReported) {
  auto g = RevisionGraph::Build(
      {S("a", {}), S("b", {"a", "d"}), S("c", {"b"}), S("d", {"c"})});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("cycle"));
  EXPECT_THAT(g.status().message(), HasSubstr("b, c, d"));
}

TEST(RevisionGraph, MissingParentIsReportedWithFile) {
  auto g = RevisionGraph::Build({S("a", {}), S("b", {"zz"})});
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("b.sql"));
  EXPECT_THAT(g.status().message(), HasSubstr("zz"));
}

TEST(RevisionGraph, DuplicateIdNamesBothFiles) {
  Script a1 = S("a", {});
  Script a2 = S("a", {});
  a2.file = "other.sql";
  auto g = RevisionGraph::Build({a1, a2});
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("a.sql"));
  EXPECT_THAT(g.status().message(), HasSubstr("other.sql"));
}

TEST(RevisionGraph, ResolvesIdsAndUniquePrefixes) {
  auto g = RevisionGraph::Build(
      {S("abc123", {}), S("abd456", {"abc123"}), S("ff", {"abd456"})});
  ASSERT_OK(g);
  EXPECT_EQ(*g->Resolve("abc123"), "abc123");
  EXPECT_EQ(*g->Resolve("abd"), "abd456");
  EXPECT_EQ(*g->Resolve("f"), "ff");
  EXPECT_THAT(g->Resolve("ab").status().message(), HasSubstr("ambiguous"));
  EXPECT_EQ(g->Resolve("zz").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Resolve("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RevisionGraph, EmptyGraphHasNoHeads) {
  auto g = RevisionGraph::Build({});
  ASSERT_OK(g);
  EXPECT_THAT(g->heads(), IsEmpty());
  EXPECT_TRUE(g->empty());
}

}  // namespace
}  // namespace pulse::migrate
