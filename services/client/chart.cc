#include "services/client/chart.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace pulse::client {
namespace {

// The page around the data. The script reads the JSON in #org-data:
// {"root": id, "open": levels, "people": [[id, manager, name, title,
// email, department], ...], "departments": [[id, name], ...]}.
constexpr char kHead[] = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Org chart</title>
<style>
  body { font: 14px/1.35 system-ui, sans-serif; margin: 0; color: #1d2330;
         background: #f6f7f9; }
  header { position: sticky; top: 0; z-index: 2; display: flex;
           flex-wrap: wrap; gap: 12px; align-items: center;
           padding: 10px 16px; background: #fff;
           border-bottom: 1px solid #d8dce3; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  #search { font: inherit; padding: 5px 8px; width: 260px;
            border: 1px solid #aab2bf; border-radius: 4px; }
  #found-count { color: #5b6475; min-width: 90px; }
  #departments summary { cursor: pointer; color: #3b4352; }
  #legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 6px 0 0;
            padding: 0; list-style: none; max-width: 100vw; }
  #legend li { display: flex; align-items: center; gap: 5px; }
  #legend .swatch { width: 12px; height: 12px; border-radius: 3px; }
  main { overflow: auto; padding: 16px; }
  .tree, .tree ul { display: flex; justify-content: center; margin: 0;
                    padding: 18px 0 0; position: relative; }
  .tree { padding-top: 0; width: max-content; min-width: 100%; }
  .tree li { list-style: none; position: relative; padding: 18px 4px 0;
             display: flex; flex-direction: column; align-items: center; }
  /* Connectors: a line up from each box, joined across siblings. */
  .tree li::before, .tree li::after { content: ""; position: absolute;
    top: 0; width: 50%; height: 18px; border-top: 1px solid #9aa3b2; }
  .tree li::before { right: 50%; }
  .tree li::after { left: 50%; border-left: 1px solid #9aa3b2; }
  .tree li:only-child::before, .tree li:only-child::after { border-top: 0; }
  .tree li:first-child::before, .tree li:last-child::after { border-top: 0; }
  .tree li:last-child::before { border-right: 1px solid #9aa3b2; }
  .tree > li { padding-top: 0; }
  .tree > li::before, .tree > li::after { display: none; }
  .tree ul::before { content: ""; position: absolute; top: 0; left: 50%;
                     height: 18px; border-left: 1px solid #9aa3b2; }
  .box { min-width: 130px; max-width: 190px; padding: 6px 8px 5px;
         background: #fff; border: 1px solid #c5cbd5;
         border-top: 5px solid var(--dept, #9aa3b2); border-radius: 5px;
         box-shadow: 0 1px 2px rgba(0,0,0,.06); text-align: center; }
  .box .name { font-weight: 600; }
  .box .title { color: #4c5566; font-size: 12px; }
  .box.found { outline: 3px solid #f0b400; outline-offset: 2px; }
  .toggle { margin-top: 4px; font: 12px system-ui, sans-serif;
            padding: 1px 8px; border: 1px solid #aab2bf; border-radius: 10px;
            background: #eef1f5; cursor: pointer; }
  .collapsed > ul { display: none; }
</style>
</head>
<body>
<header>
  <h1 id="chart-title">Org chart</h1>
  <input id="search" type="search" placeholder="Find a person (Enter for next)"
         aria-label="Find a person">
  <span id="found-count"></span>
  <details id="departments"><summary id="legend-title">Departments</summary>
    <ul id="legend"></ul></details>
</header>
<main><ul class="tree" id="tree"></ul></main>
<script type="application/json" id="org-data">)html";

constexpr char kTail[] = R"html(</script>
<script>
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("org-data").textContent);
  const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                   "#1f77b4", "#2ca02c"];
  const person = new Map(), reports = new Map(), depth = new Map();
  for (const p of data.people) {
    person.set(p[0], p);
    if (p[0] !== data.root && p[1] !== null && person.has(p[1])) {
      if (!reports.has(p[1])) reports.set(p[1], []);
      reports.get(p[1]).push(p[0]);
      depth.set(p[0], depth.get(p[1]) + 1);
    } else {
      depth.set(p[0], 0);
    }
  }
  // Colours by department, in the order the legend lists them.
  const colour = new Map(), used = new Set();
  for (const p of data.people) if (p[5] !== null) used.add(p[5]);
  const legend = document.getElementById("legend");
  for (const [id, name] of data.departments) {
    if (!used.has(id)) continue;
    colour.set(id, palette[colour.size % palette.length]);
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour.get(id);
    li.append(swatch, document.createTextNode(name));
    legend.append(li);
  }
  document.getElementById("legend-title").textContent =
      "Departments (" + colour.size + ")";
  // A short legend shows at once; a long one opens on a click.
  document.getElementById("departments").open = colour.size <= 12;
  const root = person.get(data.root);
  document.getElementById("chart-title").textContent =
      "Org chart: " + (root ? root[2] : "nobody") + " (" +
      data.people.length + " people)";
  document.title = document.getElementById("chart-title").textContent;

  const items = new Map();  // id -> its <li>, once drawn
  function draw(id) {
    const p = person.get(id);
    const li = document.createElement("li");
    li.dataset.id = id;
    const box = document.createElement("div");
    box.className = "box";
    if (colour.has(p[5])) box.style.setProperty("--dept", colour.get(p[5]));
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = p[2];
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = p[3];
    box.append(name, title);
    box.title = p[4];
    li.append(box);
    const below = reports.get(id);
    if (below) {
      const toggle = document.createElement("button");
      toggle.className = "toggle";
      toggle.type = "button";
      box.append(toggle);
      toggle.addEventListener("click", () => setOpen(id, li.classList.contains("collapsed")));
      li.classList.add("collapsed");
      setToggle(li);
      if (depth.get(id) < data.open) setOpen(id, true, li);
    }
    items.set(id, li);
    return li;
  }
  function setToggle(li) {
    const n = reports.get(Number(li.dataset.id)).length;
    li.querySelector(":scope > .box > .toggle").textContent =
        (li.classList.contains("collapsed") ? "+ " : "\u2212 ") + n +
        (n === 1 ? " report" : " reports");
  }
  // Opens or closes a branch; its boxes are made when first opened.
  function setOpen(id, open, li) {
    li = li || items.get(id);
    if (open && !li.querySelector(":scope > ul")) {
      const ul = document.createElement("ul");
      for (const r of reports.get(id)) ul.append(draw(r));
      li.append(ul);
    }
    li.classList.toggle("collapsed", !open);
    setToggle(li);
  }
  if (root) {
    document.getElementById("tree").append(draw(data.root));
    // The chart is wider than the window: start with the root in view.
    items.get(data.root).querySelector(":scope > .box")
        .scrollIntoView({block: "nearest", inline: "center"});
  }

  // Search: each Enter (or new text) reveals the next match.
  const search = document.getElementById("search");
  const count = document.getElementById("found-count");
  let matches = [], at = -1, last = "";
  function reveal(id) {
    const chain = [];
    for (let p = person.get(id); p && p[0] !== data.root; p = person.get(p[1])) {
      chain.push(p[1]);
    }
    for (const m of chain.reverse()) setOpen(m, true);
    for (const old of document.querySelectorAll(".box.found")) {
      old.classList.remove("found");
    }
    const box = items.get(id).querySelector(":scope > .box");
    box.classList.add("found");
    box.scrollIntoView({block: "center", inline: "center"});
  }
  function find() {
    const q = search.value.trim().toLowerCase();
    if (q !== last) {
      last = q;
      at = -1;
      matches = q === "" ? [] : data.people.filter(p =>
          (p[2] + "\n" + p[3] + "\n" + p[4]).toLowerCase().includes(q))
          .map(p => p[0]);
    }
    if (matches.length === 0) {
      count.textContent = q === "" ? "" : "no match";
      return;
    }
    at = (at + 1) % matches.length;
    count.textContent = (at + 1) + " of " + matches.length;
    reveal(matches[at]);
  }
  search.addEventListener("keydown", e => { if (e.key === "Enter") find(); });
  search.addEventListener("change", find);
})();
</script>
</body>
</html>
)html";

}  // namespace

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      // Inside <script>, "</script>" and "<!--" must not appear.
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string ChartHtml(
    const std::vector<pulse::orgdata::v1::Employee>& people,
    const std::vector<pulse::orgdata::v1::Department>& departments,
    int open_levels) {
  std::string out = kHead;
  absl::StrAppend(&out, "{\"root\":", people.empty() ? 0 : people[0].id(),
                  ",\"open\":", open_levels, ",\n\"people\":[");
  for (size_t i = 0; i < people.size(); ++i) {
    const auto& p = people[i];
    absl::StrAppend(
        &out, i == 0 ? "" : ",\n", "[", p.id(), ",",
        p.has_manager_id() ? absl::StrCat(p.manager_id()) : "null", ",",
        JsonString(p.full_name()), ",", JsonString(p.title()), ",",
        JsonString(p.email()), ",",
        p.has_department_id() ? absl::StrCat(p.department_id()) : "null", "]");
  }
  absl::StrAppend(&out, "],\n\"departments\":[");
  for (size_t i = 0; i < departments.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "[", departments[i].id(), ",",
                    JsonString(departments[i].name()), "]");
  }
  absl::StrAppend(&out, "]}\n", kTail);
  return out;
}

}  // namespace pulse::client
