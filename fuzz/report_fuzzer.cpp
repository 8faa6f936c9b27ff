// report.json (lib/eval/forgetting_report.h): parse_report_json on arbitrary text, which also
// recomputes every derived figure and bootstrap interval from the per-document columns, then what
// `plinth report` and `plinth gate` do with a report read back: write it again as JSON,
// Markdown, SVG and HTML, where no text of the file may become markup (a <script> is escaped
// wherever the file puts it). BadInput is the only way to refuse. A report of schema 2 or 3 (capability
// suites) is also read again from the JSON written of it: what plinth writes, plinth must read.
// (A schema-1 report is written as schema 3 without the per-document columns it never had, which
// the reader rightly refuses.)
#include <stdexcept>
#include <string>

#include "eval/forgetting_report.h"
#include "eval/report_html.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  plinth::eval::ForgettingReport report;
  try {
    report = plinth::eval::parse_report_json(text, "fuzz/report.json");
  } catch (const plinth::BadInput&) {
    return 0;
  }
  const std::string json = plinth::eval::report_json(report);
  plinth::eval::report_markdown(report);
  plinth::eval::report_svg(report);
  // A run directory that does not exist: the page reads no loss.svg, links no files.
  const std::string page = plinth::eval::report_html(report, "/nonexistent/plinth-fuzz-run");
  if (page.find("<script") != std::string::npos || page.find("<img") != std::string::npos)
    throw std::logic_error("report.html made markup of text from report.json");
  if (report.schema < 2) return 0;
  try {
    plinth::eval::parse_report_json(json, "fuzz/rewritten.json");
  } catch (const plinth::BadInput& e) {
    throw std::logic_error("report_json wrote a report that does not read back: " + std::string(e.what()));
  }
  return 0;
}
