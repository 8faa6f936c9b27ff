// comparison.html of `plinth report` and of a sweep (report_html.h): the comparison's chart, its
// Markdown's tables, and a section per run that links to the run's own report page and shows
// its training curves.
#include <fmt/format.h>

#include "eval/report_html.h"
#include "eval/report_html_parts.h"
#include "eval/report_variants.h"
#include "util/html_page.h"

namespace plinth::eval {

namespace fs = std::filesystem;

namespace {

// One section per run: its name linking to its report page, its method, its files, and its
// loss and forgetting curves.
std::string runs_html(const std::vector<ComparedRun>& runs, const fs::path& dir) {
  std::string out = "<h2 id=\"runs\">Runs</h2>\n";
  for (const auto& run : runs) {
    const fs::path run_dir = fs::absolute(run.report_file).lexically_normal().parent_path();
    const std::string prefix = relative_href(run_dir, dir);
    // A run evaluated by a plinth without pages has report.md only.
    const auto pages = file_links(run_dir, {"report.html", "report.md"}, prefix);
    const std::string title =
        pages.empty() ? html_escape(run.label) : html_link(pages.front().second, run.label);
    out += fmt::format("<section class=\"run\">\n<h3>{}</h3>\n<p>method {}", title,
                       html_escape(run.report.method.empty() ? "n/a" : run.report.method));
    for (const auto& [name, href] : file_links(
             run_dir, {"report.html", "report.md", "report.json", "loss.svg", "metrics.jsonl"}, prefix))
      out += " · " + html_link(href, name);
    out += "</p>\n";
    out +=
        training_curves_html(run_dir, prefix,
                             fmt::format("{}: training and validation loss against step (loss.svg), and the "
                                         "forgetting select: measured, when its recipe has it",
                                         run.label));
    out += "</section>\n";
  }
  return out;
}

// What a comparison page holds above its runs' sections.
struct ComparisonPage {
  std::string title;               // plain text, also the <h1>
  std::vector<std::string> files;  // of the comparison's directory, linked above the page when there
  std::string plot;                // HTML: the trade-off chart's figure
  std::string markdown;            // the comparison's Markdown (comparison.md)
  std::string after;               // HTML after the tables (more figures); may be empty
};

std::string comparison_page(const ComparisonPage& c, const std::vector<ComparedRun>& runs,
                            const fs::path& dir) {
  HtmlPage page;
  page.title = c.title;
  page.nav = file_links(dir, c.files, "");
  page.body = "<h1 id=\"comparison\">" + html_escape(c.title) + "</h1>\n" + c.plot +
              markdown_to_html(c.markdown) + c.after + runs_html(runs, dir);
  return render_html(page);
}

}  // namespace

std::string comparison_html(const std::vector<ComparedRun>& runs, const fs::path& dir) {
  std::vector<LabelledReport> labelled;
  for (const auto& run : runs) labelled.push_back({run.label, &run.report});
  std::string overlay = interpolation_overlay_svg(labelled);
  if (!overlay.empty())
    overlay = html_figure(overlay, "Every run's interpolation between its base and its tuned model");
  return comparison_page({fmt::format("Comparison of {} runs", runs.size()),
                          {"comparison.md", "comparison.svg", "interpolation.svg"},
                          html_figure(comparison_svg(runs),
                                      "Task gain against mean forgetting, one point per run, whiskers: both "
                                      "intervals (up and to the left is better)"),
                          comparison_markdown(runs),
                          overlay},
                         runs, dir);
}

std::string sweep_html(const SweepComparison& sweep, const fs::path& dir) {
  return comparison_page({fmt::format("Sweep of {} points", sweep.runs.size()),
                          {"comparison.md", "comparison.svg"},
                          html_figure(sweep_svg(sweep),
                                      "Task gain against mean forgetting of every point, whiskers: both "
                                      "intervals; ringed and joined: the learning/forgetting frontier"),
                          sweep_markdown(sweep),
                          ""},
                         sweep.runs, dir);
}

}  // namespace plinth::eval
