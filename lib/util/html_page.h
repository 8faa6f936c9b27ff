// Self-contained HTML pages for reports: one file that opens in any browser with no network and
// no script (styles inline, charts as inline SVG or data: images), readable in a narrow window
// (tables scroll sideways, charts shrink to the width) and on paper (@media print).
//
// The pages carry the same tables as the Markdown plinth writes beside them: markdown_to_html
// renders the subset of Markdown that plinth's reports use, so the two never disagree. Every
// piece of text is escaped (html_escape): names read from users' files (domains, recipes, runs)
// show as text and never become markup.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plinth {

// & < > " ' as character references: safe in element text and in quoted attribute values.
std::string html_escape(std::string_view text);

// A relative path as a URL path: '/'-separated, every byte outside RFC 3986's unreserved set
// percent-encoded (a run directory named "a b#1" -> "a%20b%231"). Not yet HTML-escaped.
std::string url_path(const std::filesystem::path& relative);

// Standard base64 (RFC 4648, with padding).
std::string base64(std::string_view bytes);

// The Markdown subset of plinth's reports as HTML: "#"/"##"/"###" headings (with an id made
// from their text), paragraphs (lines up to a blank line), pipe tables with their alignment row
// ("---:" right, ":---:" centre; "\|" is a pipe inside a cell; a short row is padded), and inline
// `code` and **bold**. Everything else is text, escaped.
std::string markdown_to_html(std::string_view markdown);

// Markdown cut before each "## " heading: the part before the first one has an empty heading.
struct MarkdownSection {
  std::string heading;  // the heading's text, without "## "
  std::string text;     // the section's Markdown, its heading line included
};
std::vector<MarkdownSection> markdown_sections(std::string_view markdown);

// A chart plinth drew (an "<svg ...>...</svg>" document of svg_plot.h / svg_charts.h /
// svg_heatmap.h, whose text is escaped there) inline in a <figure>, with a caption (text,
// escaped here). An XML declaration before the <svg> is dropped.
std::string html_figure(std::string_view svg, std::string_view caption);

// An SVG read from a file shown as an <img> with a data: URI inside a <figure>: a browser runs
// no script and loads nothing an image holds, so a tampered file cannot act on the page.
std::string html_svg_image(std::string_view svg, std::string_view caption);

// <a href="...">text</a>: `href` a URL (url_path), `text` plain text; both escaped.
std::string html_link(std::string_view href, std::string_view text);

struct HtmlPage {
  std::string title;                                     // plain text: the tab's and the print's title
  std::vector<std::pair<std::string, std::string>> nav;  // (plain text, URL) links above the body
  std::string body;                                      // HTML
};

// <!DOCTYPE html> with the charset, viewport, the inline style sheet, the nav links and the body.
std::string render_html(const HtmlPage& page);

}  // namespace plinth
