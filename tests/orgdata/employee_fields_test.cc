// The employee's fields, one list (store::kEmployeeColumns) that the
// readers, the import/export files and the SQL builders derive from,
// checked against what it cannot derive: every field of
// pulse.orgdata.v1.Employee that is stored is in the list, and every entry
// is a field of the proto and a column of the employees table at head. A
// field added to the proto and not to the list fails here, by name.

#include <algorithm>
#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "libs/store/employee_columns.h"
#include "libs/store/store.h"
#include "libs/write/rows.h"
#include "pulse/orgdata/v1/orgdata.pb.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

// Fields the server computes per read rather than stores.
const std::set<std::string> kComputed = {"depth", "direct_reports",
                                         "outside_filter"};

// The names a pragma_* query's first column gives, on a database at head.
std::set<std::string> NamesAtHead(const std::string& query) {
  testing::TempDir dir;
  const std::string path = dir.Join("pulse.db");
  std::set<std::string> names;
  EXPECT_OK(testing::MigrateToHead(path));
  auto db = testing::OpenSqlite(path);
  SQLite::Statement q(*db, query);
  while (q.executeStep()) names.insert(q.getColumn(0).getString());
  return names;
}

TEST(EmployeeFieldsTest, EveryStoredFieldIsATableColumnAndAFileColumn) {
  const std::set<std::string> table =
      NamesAtHead("SELECT name FROM pragma_table_info('employees')");

  std::set<std::string> listed, files;
  for (const store::EmployeeColumn& c : store::kEmployeeColumns) {
    listed.insert(c.column);
    files.insert(c.file);
  }
  EXPECT_EQ(files.size(), store::kEmployeeColumns.size())
      << "two fields share a file column";
  const google::protobuf::Descriptor* d = v1::Employee::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string field = d->field(i)->name();
    if (kComputed.count(field)) continue;
    EXPECT_TRUE(listed.count(field))
        << "Employee." << field << " is not in store::kEmployeeColumns";
  }
  // And the other way: every entry is a field of the proto and a column of
  // the table.
  for (const std::string& column : listed) {
    EXPECT_NE(d->FindFieldByName(column), nullptr)
        << "store::kEmployeeColumns lists " << column
        << ", which is not a field of Employee";
    EXPECT_TRUE(table.count(column))
        << "store::kEmployeeColumns lists " << column
        << ", which is not a column of employees at head";
  }
}

// Subtree streams read the covering index employees_org_path alone, never
// the table (hierarchy's PathSubtreeSql): every column of employees at head
// must be in it, or a column added to the table (and the proto, above)
// would cost every streamed row a table lookup.
TEST(EmployeeFieldsTest, TheCoveringIndexHoldsEveryColumnOfTheTable) {
  const std::set<std::string> indexed =
      NamesAtHead("SELECT name FROM pragma_index_info('employees_org_path')");
  ASSERT_FALSE(indexed.empty()) << "no index employees_org_path at head";
  for (const std::string& column :
       NamesAtHead("SELECT name FROM pragma_table_info('employees')")) {
    EXPECT_TRUE(indexed.count(column))
        << "employees." << column << " is not in employees_org_path";
  }
}

}  // namespace
}  // namespace pulse::orgdata
