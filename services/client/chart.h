#ifndef PULSE_SERVICES_CLIENT_CHART_H_
#define PULSE_SERVICES_CLIENT_CHART_H_

#include <string>
#include <vector>

#include "pulse/orgdata/v1/orgdata.pb.h"

namespace pulse::client {

// One self-contained HTML page (inline script and style, nothing fetched)
// that draws `people` (a subtree, its root first, every manager before
// their reports) as an org chart: a box per person with name and title,
// coloured by department with a legend of `departments`' names, branches
// that expand and collapse (those `open_levels` or more below the root
// start collapsed; their boxes are made only when first expanded, so a
// chart of 10,000 people opens at once), and a search box that finds a
// person by name, title or email and reveals them.
std::string ChartHtml(
    const std::vector<pulse::orgdata::v1::Employee>& people,
    const std::vector<pulse::orgdata::v1::Department>& departments,
    int open_levels);

// `text` as a JSON string literal that is also safe inside <script>.
std::string JsonString(const std::string& text);

}  // namespace pulse::client

#endif  // PULSE_SERVICES_CLIENT_CHART_H_
