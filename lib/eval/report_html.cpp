// report.html: a ForgettingReport as a web page (report_html.h). The page is report.md's
// Markdown rendered section by section, each chart placed after the section it illustrates.
#include "eval/report_html.h"

#include <fmt/format.h>

#include <string_view>

#include "eval/report_html_parts.h"
#include "eval/report_variants.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/html_page.h"
#include "util/text.h"

namespace plinth::eval {

namespace fs = std::filesystem;

namespace {

// A loss.svg larger than this is linked, not embedded: a page should open quickly. Curves of a
// run with a few thousand logged steps take a few hundred KiB.
constexpr uintmax_t kMaxEmbeddedSvg = 4u << 20;

}  // namespace

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

}  // namespace plinth::eval
