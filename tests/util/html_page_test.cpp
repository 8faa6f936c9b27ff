#include "util/html_page.h"

#include <catch2/catch.hpp>

#include "test_support.h"

using namespace plinth;
using plinth::test::occurrences;

TEST_CASE("html_escape: markup in names is text", "[util][html]") {
  CHECK(html_escape("<script>alert('x')</script> & \"q\"") ==
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  CHECK(html_escape("plain-name_1.0 ü") == "plain-name_1.0 ü");  // UTF-8 passes as it is
  CHECK(html_escape("") == "");
}

TEST_CASE("url_path: run directories with odd names still link", "[util][html]") {
  CHECK(url_path("ft-full/report.html") == "ft-full/report.html");
  CHECK(url_path("../runs/a b#1/report.html") == "../runs/a%20b%231/report.html");
  CHECK(url_path("x\"><script>/r.html") == "x%22%3E%3Cscript%3E/r.html");
}

TEST_CASE("base64 as RFC 4648 gives it", "[util][html]") {
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("foobar") == "Zm9vYmFy");
  CHECK(base64(std::string("\xff\x00\x10", 3)) == "/wAQ");
}

TEST_CASE("markdown_to_html: the tables, headings and inline marks of plinth's reports", "[util][html]") {
  const std::string md =
      "# Forgetting report: run\n\n"
      "Recipe `lora`, method **full**.\nSecond line.\n\n"
      "| domain | forgetting | note |\n|---|---:|:---:|\n"
      "| code | +3.20% [+2.10, +4.30] | a \\| b |\n"
      "| maths | +1.00% |\n\n"
      "## Task: arith\n"
      "| | base |\n|---|---:|\n| loss | 2.0 |\n";
  const std::string html = markdown_to_html(md);
  CHECK(html.find("<h1 id=\"forgetting-report-run\">Forgetting report: run</h1>") != std::string::npos);
  CHECK(html.find("<p>Recipe <code>lora</code>, method <strong>full</strong>.\nSecond line.</p>") !=
        std::string::npos);
  CHECK(html.find("<th>domain</th><th class=\"r\">forgetting</th><th class=\"c\">note</th>") !=
        std::string::npos);
  CHECK(html.find("<td>code</td><td class=\"r\">+3.20% [+2.10, +4.30]</td><td class=\"c\">a | b</td>") !=
        std::string::npos);
  // A short row is padded to the header's columns.
  CHECK(html.find("<td>maths</td><td class=\"r\">+1.00%</td><td class=\"c\"></td>") != std::string::npos);
  // A heading right above a table, no blank line between: both still found.
  CHECK(html.find("<h2 id=\"task-arith\">Task: arith</h2>") != std::string::npos);
  CHECK(html.find("<td>loss</td><td class=\"r\">2.0</td>") != std::string::npos);
  CHECK(occurrences(html, "<table>") == 2);
  CHECK(occurrences(html, "<tr>") == 5);
}

TEST_CASE("markdown_to_html: a hostile name is text wherever it stands", "[util][html]") {
  const std::string bad = "<script>alert(1)</script>";
  const std::string md = "# " + bad + "\n\n| a |\n|---|\n| " + bad + " |\n\nsee `" + bad + "` and **" + bad +
                         "** and <img src=x onerror=alert(1)>\n";
  const std::string html = markdown_to_html(md);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(occurrences(html, "&lt;script&gt;alert(1)&lt;/script&gt;") == 4);
  // Not a table (no rule line) and not a heading ("#x"): a paragraph.
  CHECK(markdown_to_html("#x\n| a |\n") == "<p>#x\n| a |</p>\n");
  // An unclosed mark stays as it was written.
  CHECK(markdown_to_html("a `b and **c\n") == "<p>a `b and **c</p>\n");
}

TEST_CASE("markdown_sections cuts at second-level headings", "[util][html]") {
  const auto sections = markdown_sections("# T\n\nintro\n\n## One\n\na\n\n## Two\nb\n");
  REQUIRE(sections.size() == 3);
  CHECK(sections[0].heading.empty());
  CHECK(sections[0].text == "# T\n\nintro\n\n");
  CHECK(sections[1].heading == "One");
  CHECK(sections[1].text == "## One\n\na\n\n");
  CHECK(sections[2].heading == "Two");
  CHECK(markdown_sections("## Only\nx\n").size() == 1);
}

TEST_CASE("a page: self-contained, charts inline, files' SVG as inert images", "[util][html]") {
  HtmlPage page;
  page.title = "Report <x>";
  page.nav = {{"report.md", "report.md"}, {"a\"b", "a%22b"}};
  page.body = html_figure(
                  "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
                  "height=\"10\"><rect/></svg>\n",
                  "bars <b>") +
              html_svg_image("<svg><script>alert(1)</script></svg>", "loss");
  const std::string html = render_html(page);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<title>Report &lt;x&gt;</title>") != std::string::npos);
  CHECK(html.find("<meta charset=\"utf-8\">") != std::string::npos);
  CHECK(html.find("Content-Security-Policy") != std::string::npos);
  CHECK(html.find("@media print") != std::string::npos);
  CHECK(html.find("overflow-x:auto") != std::string::npos);
  CHECK(html.find("max-width:100%") != std::string::npos);
  CHECK(html.find("<a href=\"a%22b\">a&quot;b</a>") != std::string::npos);
  CHECK(html.find("<?xml") == std::string::npos);
  CHECK(html.find("<svg role=\"img\" aria-label=\"bars &lt;b&gt;\" xmlns=") != std::string::npos);
  CHECK(html.find("<figcaption>bars &lt;b&gt;</figcaption>") != std::string::npos);
  // The file's script is inside a data: image, base64: never markup on the page.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img src=\"data:image/svg+xml;base64," + base64("<svg><script>alert(1)</script></svg>") +
                  "\" alt=\"loss\">") != std::string::npos);
  // No network: nothing refers to another host.
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));
  CHECK(html.find("https://") == std::string::npos);
}
