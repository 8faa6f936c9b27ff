// report.html: a ForgettingReport as a web page (report_html.h). The page is report.md's
// Markdown rendered section by section, each chart placed after the section it illustrates.
#include "eval/report_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>

#include "eval/report_html_parts.h"
#include "eval/report_variants.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/html_page.h"
#include "util/log.h"
#include "util/text.h"

namespace plinth::eval {

namespace fs = std::filesystem;

namespace {

// A loss.svg larger than this is linked, not embedded: a page should open quickly. Curves of a
// run with a few thousand logged steps take a few hundred KiB.
constexpr uintmax_t kMaxEmbeddedSvg = 4u << 20;

// <run_dir>/comparisons.json: the directories of the comparison pages that list the run, relative
// to run_dir (a tree moved as a whole keeps its links), in the order they were first written.
constexpr char kComparisonsFile[] = "comparisons.json";

std::vector<std::string> listed_in(const fs::path& run_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_regular_file(run_dir / kComparisonsFile, ec)) return out;
  try {
    const auto j = nlohmann::json::parse(read_file(run_dir / kComparisonsFile));
    for (const auto& dir : j.at("comparisons")) out.push_back(dir.get<std::string>());
  } catch (const std::exception&) {
    // Damaged (a hand edit): the page loses its back-links, nothing else; the next comparison
    // that lists the run writes the file afresh.
    out.clear();
  }
  return out;
}

// ("comparison: <its directory's name>", href) for each page of listed_in that still exists.
std::vector<std::pair<std::string, std::string>> comparison_links(const fs::path& run_dir) {
  std::vector<std::pair<std::string, std::string>> links;
  std::error_code ec;
  for (const std::string& rel : listed_in(run_dir)) {
    const fs::path page = fs::absolute(run_dir / rel / "comparison.html").lexically_normal();
    if (!fs::is_regular_file(page, ec)) continue;
    const fs::path dir = page.parent_path();
    links.push_back(
        {"comparison: " + dir.filename().string(), relative_href(dir, run_dir) + "comparison.html"});
  }
  return links;
}

}  // namespace

std::string relative_href(const fs::path& target, const fs::path& from) {
  const fs::path t = fs::absolute(target).lexically_normal(), f = fs::absolute(from).lexically_normal();
  fs::path rel = t.lexically_relative(f);
  if (rel.empty()) rel = t;
  std::string href = url_path(rel);
  if (!href.empty() && href.back() != '/') href += '/';
  return href == "./" ? "" : href;
}

std::string training_curves_html(const fs::path& run_dir, std::string_view href_prefix,
                                 std::string_view caption) {
  const fs::path file = run_dir / "loss.svg";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return "";
  const std::string href = std::string(href_prefix) + "loss.svg";
  if (fs::file_size(file, ec) > kMaxEmbeddedSvg)
    return fmt::format("<p>Training curves: {} ({}, too large to embed).</p>\n", html_link(href, "loss.svg"),
                       format_bytes(fs::file_size(file, ec)));
  std::string svg;
  try {
    svg = read_file(file);
  } catch (const BadInput&) {  // unreadable: the rest of the page is still worth writing
    return fmt::format("<p>Training curves: {} could not be read.</p>\n", html_link(href, "loss.svg"));
  }
  const std::string_view head = trim(std::string_view(svg).substr(0, 256));
  if (!starts_with(head, "<svg") && !starts_with(head, "<?xml"))
    return fmt::format("<p>Training curves: {} is not an SVG image.</p>\n", html_link(href, "loss.svg"));
  return html_svg_image(svg, caption);
}

std::vector<std::pair<std::string, std::string>> file_links(const fs::path& dir,
                                                            const std::vector<std::string>& names,
                                                            std::string_view href_prefix) {
  std::vector<std::pair<std::string, std::string>> links;
  std::error_code ec;
  for (const auto& name : names)
    if (fs::is_regular_file(dir / name, ec)) links.push_back({name, std::string(href_prefix) + name});
  return links;
}

std::string report_html(const ForgettingReport& r, const fs::path& run_dir) {
  HtmlPage page;
  page.title = "Forgetting report: " + (r.run.empty() ? std::string("(unnamed run)") : r.run);
  page.nav = file_links(run_dir, {"report.md", "report.json", "report.svg", "loss.svg", "metrics.jsonl"}, "");
  for (auto& link : comparison_links(run_dir)) page.nav.push_back(std::move(link));
  const std::string interpolation = interpolation_svg(r), attribution = attribution_svg(r);
  bool interpolation_shown = interpolation.empty(), attribution_shown = attribution.empty();
  const std::string interpolation_caption =
      "Interpolation between base and tuned: task gain against mean forgetting at every α, with intervals";
  const std::string attribution_caption =
      "Where the forgetting comes from: the tuned model with each part put back to the base's weights";
  std::string body;
  for (const MarkdownSection& section : markdown_sections(report_markdown(r))) {
    body += markdown_to_html(section.text);
    if (section.heading.empty()) {
      body += html_figure(
          report_svg(r), r.has_intervals()
                             ? "Bits per byte of every domain before and after tuning (lower is better); the "
                               "tuned bar's whisker: the interval of the paired change; above each group its "
                               "forgetting"
                             : "Bits per byte of every domain before and after tuning (lower is better)");
    } else if (!interpolation_shown && starts_with(section.heading, "Interpolation")) {
      body += html_figure(interpolation, interpolation_caption);
      interpolation_shown = true;
    } else if (!attribution_shown && starts_with(section.heading, "Where the forgetting")) {
      body += html_figure(attribution, attribution_caption);
      attribution_shown = true;
    }
  }
  // Sections renamed since: the charts still come, at the end.
  if (!interpolation_shown) body += html_figure(interpolation, interpolation_caption);
  if (!attribution_shown) body += html_figure(attribution, attribution_caption);
  if (const std::string curves = training_curves_html(
          run_dir, "",
          "Training curves (loss.svg): training and validation loss against step, and the forgetting "
          "that select: measured, when the recipe has it");
      !curves.empty())
    body += "<h2 id=\"training\">Training</h2>\n" + curves;
  page.body = std::move(body);
  return render_html(page);
}

void link_runs_to_comparison(const std::vector<ComparedRun>& runs, const fs::path& dir) {
  for (const auto& run : runs) {
    // Only a run's own report.json has its page beside it (a report file under another name,
    // a baseline copied somewhere, is not that page's report).
    if (run.report_file.filename() != "report.json") continue;
    const fs::path run_dir = fs::absolute(run.report_file).lexically_normal().parent_path();
    std::error_code ec;
    if (!fs::is_regular_file(run_dir / "report.html", ec)) continue;  // no page to link from
    const std::string rel = fs::absolute(dir).lexically_normal().lexically_relative(run_dir).string();
    std::vector<std::string> dirs = listed_in(run_dir);
    if (std::find(dirs.begin(), dirs.end(), rel) == dirs.end()) dirs.push_back(rel);
    try {
      write_file_atomic(run_dir / kComparisonsFile, nlohmann::json{{"comparisons", dirs}}.dump(2) + "\n");
      write_file_atomic(run_dir / "report.html", report_html(run.report, run_dir));
    } catch (const Failure& e) {  // a run directory we may read but not write: the comparison stands
      log::warn("{}'s report.html does not link back to {}: {}", run_dir.string(),
                (dir / "comparison.html").string(), e.what());
    }
  }
}

}  // namespace plinth::eval
