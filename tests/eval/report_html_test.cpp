// report.html and comparison.html: every table row and interval of the Markdown, the charts,
// links between a comparison and its runs, and names from users' files shown as text.
#include "eval/report_html.h"

#include <catch2/catch.hpp>

#include "eval/forgetting_report.h"
#include "eval/run_comparison.h"
#include "eval/sweep_report.h"
#include "report_fixture.h"
#include "test_support.h"
#include "util/html_page.h"
#include "util/nan.h"
#include "util/text.h"

using Catch::Matchers::Contains;
using namespace plinth;
using namespace plinth::eval;
using plinth::eval::testing::between;
using plinth::eval::testing::report_with;
using plinth::test::occurrences;
namespace fs = std::filesystem;

namespace {

const std::string kHostile = "<script>alert(1)</script>";

// The rows of every Markdown table in `md` (header rows included, rule rows not).
size_t markdown_table_rows(const std::string& md) {
  size_t rows = 0;
  for (const std::string& line : split(md, '\n'))
    if (starts_with(line, "|") && line.find_first_not_of("|-: ") != std::string::npos) ++rows;
  return rows;
}

// The page holds each cell of each Markdown table row, as text.
void check_every_cell(const std::string& md, const std::string& html) {
  for (const std::string& line : split(md, '\n')) {
    if (!starts_with(line, "|") || line.find_first_not_of("|-: ") == std::string::npos) continue;
    for (std::string cell : split(line, '|')) {
      cell = std::string(trim(cell));
      if (cell.empty() || cell.find('`') != std::string::npos || cell.find('\\') != std::string::npos ||
          cell.find("**") != std::string::npos)
        continue;  // marked-up cells: checked by the html_page tests
      INFO(cell);
      CHECK(html.find(">" + html_escape(cell) + "</t") != std::string::npos);
    }
  }
}

// An SVG that loss.svg could be, with a script a tampered file might hold.
const std::string kLossSvg =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><script>alert(2)</script></svg>\n";

}  // namespace

TEST_CASE("report.html: every row, interval and chart of the report, curves and links", "[eval][html]") {
  test::TempDir dir;
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 10.0}, {"law", -2.0}});
  r.interpolation = {between(r, "α=0", 0), between(r, "α=0.5", 0.5), between(r, "α=1", 1)};
  r.attribution = {between(r, "block 0", 0.5)};
  r.attribution.front().alpha = plinth::kNaN;
  derive(r);
  test::TempDir run;
  run.write("loss.svg", kLossSvg);
  write_report(r, run.path());
  REQUIRE(fs::exists(run / "report.html"));
  const std::string html = test::read_file(run / "report.html");
  const std::string md = report_markdown(r);

  CHECK(occurrences(html, "<tr>") == markdown_table_rows(md));
  check_every_cell(md, html);
  for (const auto& d : r.domains) {
    CHECK(d.forgetting_ci.known());
    CHECK_THAT(html, Contains(pct_with_interval(d.forgetting_pct, d.forgetting_ci)));
  }
  CHECK_THAT(html, Contains(pct_with_interval(r.mean_forgetting_pct, r.mean_forgetting_ci)));
  CHECK_THAT(html, Contains("task gain " + pct_with_interval(r.task->gain_pct(), r.task->gain_ci)));
  // The charts: the report's bars, the interpolation curve and the attribution heat map, inline.
  CHECK(occurrences(html, "<svg role=\"img\"") == 3);
  CHECK(occurrences(html, "class=\"bar\"") == 2 * r.domains.size());
  CHECK(occurrences(html, "class=\"cell\"") > 0);
  CHECK(html.find("<h2 id=\"interpolation-between-base-and-tuned\">") <
        html.find("aria-label=\"Interpolation between base and tuned"));
  // The training curves: the run's loss.svg as an image, its script inert inside it.
  CHECK_THAT(html, Contains("<img src=\"data:image/svg+xml;base64," + base64(kLossSvg) + "\""));
  CHECK(html.find("<script") == std::string::npos);
  for (const char* link : {"href=\"report.md\"", "href=\"report.json\"", "href=\"loss.svg\""})
    CHECK_THAT(html, Contains(link));
  CHECK(html.find("comparison.html") == std::string::npos);  // no comparison lists it yet

  // A comparison that lists the run: the page is written again from report.json, the same page
  // as from the report itself (nothing lost on the way through the file), now linking back.
  write_comparison(load_runs({run.path()}), run / "cmp");
  const std::string linked = test::read_file(run / "report.html");
  CHECK(linked == report_html(r, run.path()));
  CHECK_THAT(linked, Contains("<a href=\"cmp/comparison.html\">comparison: cmp</a>"));
}

TEST_CASE("report.html: names from files are text, never markup", "[eval][html]") {
  ForgettingReport r = report_with({{kHostile, 5.0}, {"code\"'&", 1.0}});
  r.run = kHostile;
  r.recipe_name = "<img src=x onerror=alert(3)>";
  r.method = "</table><script>";
  r.task->name = kHostile;
  derive(r);
  test::TempDir run;
  const std::string html = report_html(r, run.path());
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);  // no loss.svg here, and the recipe's name is text
  CHECK(occurrences(html, "</table>") == occurrences(html, "<table>"));
  CHECK_THAT(html, Contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
  CHECK_THAT(html, Contains("<title>Forgetting report: &lt;script&gt;alert(1)&lt;/script&gt;</title>"));
  CHECK_THAT(html, Contains("code&quot;&#39;&amp;"));
  // The chart escapes its own text (svg_plot.h).
  CHECK_THAT(html, Contains(">&lt;script&gt;alert(1)&lt;/script&gt;<"));
}

TEST_CASE("comparison.html: the table, the plot, each run's curves, links to each run's page",
          "[eval][html]") {
  test::TempDir dir;
  const fs::path a = dir / "runs" / "ft a", b = dir / "runs" / "ft-b";
  ForgettingReport ra = report_with({{"code", 10.0}, {"law", 2.0}}), rb = report_with({{"code", 3.0}});
  ra.run = "ft a", rb.run = "ft-b" + kHostile;
  write_report(ra, a);
  write_report(rb, b);
  dir.write("runs/ft a/loss.svg", kLossSvg);
  fs::remove(b / "report.html");  // evaluated by a plinth without pages: its report.md is linked

  const std::vector<ComparedRun> runs = load_runs({a, b});
  write_comparison(runs, dir / "runs");
  const std::string html = test::read_file(dir / "runs" / "comparison.html");
  const std::string md = comparison_markdown(runs);
  CHECK(occurrences(html, "<tr>") == markdown_table_rows(md));
  check_every_cell(md, html);
  CHECK_THAT(html, Contains(pct_with_interval(ra.mean_forgetting_pct, ra.mean_forgetting_ci, 1)));
  CHECK(occurrences(html, "class=\"point\"") == 2);
  CHECK_THAT(html, Contains("<h3><a href=\"ft%20a/report.html\">ft a</a></h3>"));
  CHECK_THAT(html, Contains("<a href=\"ft-b/report.md\">ft-b&lt;script&gt;alert(1)&lt;/script&gt;</a>"));
  CHECK_THAT(html, Contains("<a href=\"ft%20a/loss.svg\">loss.svg</a>"));
  CHECK(occurrences(html, "data:image/svg+xml;base64,") == 1);  // only run a has curves
  CHECK(html.find("<script") == std::string::npos);

  // Written elsewhere (plinth report --out): the links climb out of it.
  write_comparison(runs, dir / "out" / "cmp");
  const std::string elsewhere = test::read_file(dir / "out" / "cmp" / "comparison.html");
  CHECK_THAT(elsewhere, Contains("href=\"../../runs/ft%20a/report.html\""));

  // And back: run a's page links to both comparisons, once each however often they are written;
  // run b has no page, and nothing is written into its directory.
  write_comparison(runs, dir / "runs");
  std::string back = test::read_file(a / "report.html");
  CHECK(occurrences(back, "<a href=\"../comparison.html\">comparison: runs</a>") == 1);
  CHECK(occurrences(back, "<a href=\"../../out/cmp/comparison.html\">comparison: cmp</a>") == 1);
  CHECK(test::read_file(a / "comparisons.json").find("../../out/cmp") != std::string::npos);
  CHECK_FALSE(fs::exists(b / "comparisons.json"));
  // A comparison page deleted since is no longer linked; a damaged list only loses the links.
  fs::remove(dir / "out" / "cmp" / "comparison.html");
  back = report_html(ra, a);
  CHECK(back.find("out/cmp") == std::string::npos);
  CHECK_THAT(back, Contains("../comparison.html"));
  dir.write("runs/ft a/comparisons.json", "{\"comparisons\": [1");
  CHECK(report_html(ra, a).find("comparison.html") == std::string::npos);
  write_comparison(runs, dir / "runs");
  CHECK_THAT(test::read_file(a / "report.html"), Contains("../comparison.html"));
  // A report file under another name beside a run's page (a baseline kept there) is not that
  // page's report: the page stays as it is.
  fs::copy_file(b / "report.json", a / "baseline.json");
  const std::string before = test::read_file(a / "report.html");
  write_comparison(load_runs({a / "baseline.json"}), dir / "other");
  CHECK(test::read_file(a / "report.html") == before);
}

TEST_CASE("sweep comparison.html: the frontier plot and table, and links to every point", "[eval][html]") {
  test::TempDir dir;
  SweepComparison sweep;
  sweep.keys = {"train.lr"};
  const std::vector<double> forgetting = {2.0, 8.0};
  for (size_t i = 0; i < forgetting.size(); ++i) {
    const fs::path run = dir / "runs" / ("p" + std::to_string(i));
    write_report(report_with({{"code", forgetting[i]}}), run);
    sweep.values.push_back({i ? "1e-3" : "1e-4"});
  }
  sweep.runs = load_runs({dir / "runs" / "p0", dir / "runs" / "p1"});
  sweep.runs[0].label = "lr1e-4", sweep.runs[1].label = "lr1e-3";
  write_sweep_comparison(sweep, dir / "runs" / "sweep");
  const std::string html = test::read_file(dir / "runs" / "sweep" / "comparison.html");
  const std::string md = sweep_markdown(sweep);
  CHECK(occurrences(html, "<tr>") == markdown_table_rows(md));
  check_every_cell(md, html);
  CHECK_THAT(html, Contains("<title>Sweep of 2 points</title>"));
  CHECK(occurrences(html, "class=\"point\"") == 2);
  CHECK(occurrences(html, "class=\"mark\"") >= 1);  // the frontier's ring
  CHECK_THAT(html, Contains("<a href=\"../p0/report.html\">lr1e-4</a>"));
  CHECK_THAT(html, Contains("<a href=\"../p1/report.html\">lr1e-3</a>"));
  for (const char* point : {"p0", "p1"})
    CHECK_THAT(test::read_file(dir / "runs" / point / "report.html"),
               Contains("<a href=\"../sweep/comparison.html\">comparison: sweep</a>"));
}
