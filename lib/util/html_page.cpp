#include "util/html_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>

#include "util/text.h"

namespace plinth {

namespace {

// Narrow windows: a table scrolls inside its own box instead of widening the page, a chart
// shrinks to the width (its viewBox keeps the proportions). Paper: no nav, cells may wrap, no
// row or chart cut across pages.
constexpr const char* kStyle = R"(:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;max-width:1200px;margin:0 auto;padding:12px 16px}
nav{font-size:13px;margin-bottom:6px}nav a{margin-right:14px;white-space:nowrap}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin-bottom:.3em}
.table{overflow-x:auto;margin:8px 0 16px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:3px 7px;white-space:nowrap;text-align:left;vertical-align:top}
th{background:#f2f2f2}tbody tr:nth-child(even){background:#fafafa}
th.r,td.r{text-align:right}th.c,td.c{text-align:center}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;background:#f2f2f2;padding:0 2px;white-space:pre-wrap}
figure{margin:12px 0 20px}figure svg,figure img{display:block;max-width:100%;height:auto}
figcaption{font-size:13px;color:#555;margin-top:4px}
@media print{body{max-width:none;padding:0;font-size:10pt}nav{display:none}.table{overflow:visible}
table{font-size:7.5pt}th,td{white-space:normal;padding:2px 4px}figure,tr{break-inside:avoid}
h2,h3{break-after:avoid}a{color:inherit;text-decoration:none}}
)";

// "Where the forgetting comes from" -> "where-the-forgetting-comes-from", unique in `taken`.
std::string heading_id(std::string_view text, std::set<std::string>& taken) {
  std::string id;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80)
      id += static_cast<char>(std::tolower(u));
    else if (!id.empty() && id.back() != '-')
      id += '-';
  }
  while (!id.empty() && id.back() == '-') id.pop_back();
  if (id.empty()) id = "section";
  std::string unique = id;
  for (int n = 2; taken.count(unique); ++n) unique = fmt::format("{}-{}", id, n);
  taken.insert(unique);
  return unique;
}

bool is_heading(std::string_view line) {
  return starts_with(line, "# ") || starts_with(line, "## ") || starts_with(line, "### ");
}

// `code` and **bold** in a line of text; the rest escaped.
std::string inline_html(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '`') {
      const size_t end = s.find('`', i + 1);
      if (end != std::string_view::npos) {
        out += "<code>" + html_escape(s.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    } else if (s.compare(i, 2, "**") == 0) {
      const size_t end = s.find("**", i + 2);
      if (end != std::string_view::npos && end > i + 2) {
        out += "<strong>" + inline_html(s.substr(i + 2, end - i - 2)) + "</strong>";
        i = end + 2;
        continue;
      }
    }
    out += html_escape(s.substr(i, 1));
    ++i;
  }
  return out;
}

// The cells of "| a | b \| c |": "a", "b | c" (outer pipes optional, cells trimmed).
std::vector<std::string> table_cells(std::string_view line) {
  line = trim(line);
  if (!line.empty() && line.front() == '|') line.remove_prefix(1);
  if (!line.empty() && line.back() == '|' && !(line.size() >= 2 && line[line.size() - 2] == '\\'))
    line.remove_suffix(1);
  std::vector<std::string> cells(1);
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cells.back() += '|';
      ++i;
    } else if (line[i] == '|') {
      cells.emplace_back();
    } else {
      cells.back() += line[i];
    }
  }
  for (auto& c : cells) c = std::string(trim(c));
  return cells;
}

// "|---|---:|:---:|": one alignment class per column ("", "r", "c"); empty when not a rule.
std::vector<std::string> table_alignments(std::string_view line) {
  std::vector<std::string> aligns;
  for (const std::string& cell : table_cells(line)) {
    if (cell.empty() || cell.find_first_not_of("-:") != std::string::npos ||
        cell.find('-') == std::string::npos)
      return {};
    const bool left = cell.front() == ':', right = cell.back() == ':';
    aligns.push_back(left && right ? "c" : right ? "r" : "");
  }
  return aligns;
}

std::string table_html(const std::vector<std::string_view>& lines, const std::vector<std::string>& aligns) {
  auto cell = [&](const char* tag, const std::string& text, size_t column) {
    const std::string& a = column < aligns.size() ? aligns[column] : std::string();
    return fmt::format("<{0}{1}>{2}</{0}>", tag, a.empty() ? "" : " class=\"" + a + "\"", inline_html(text));
  };
  std::string out = "<div class=\"table\"><table>\n<thead><tr>";
  const std::vector<std::string> header = table_cells(lines[0]);
  for (size_t c = 0; c < header.size(); ++c) out += cell("th", header[c], c);
  out += "</tr></thead>\n<tbody>\n";
  for (size_t r = 2; r < lines.size(); ++r) {
    std::vector<std::string> row = table_cells(lines[r]);
    row.resize(header.size());  // as Markdown does: a short row padded, a long one cut
    out += "<tr>";
    for (size_t c = 0; c < row.size(); ++c) out += cell("td", row[c], c);
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

std::string block_html(const std::vector<std::string_view>& lines, std::set<std::string>& ids) {
  const std::string_view first = lines.front();
  for (int level = 1; level <= 3; ++level) {
    const std::string marker = std::string(level, '#') + " ";
    if (starts_with(first, marker) && lines.size() == 1) {
      const std::string_view text = trim(first.substr(marker.size()));
      return fmt::format("<h{0} id=\"{1}\">{2}</h{0}>\n", level, heading_id(text, ids), inline_html(text));
    }
  }
  bool table = lines.size() >= 2;
  for (std::string_view line : lines) table = table && starts_with(trim(line), "|");
  if (table) {
    const std::vector<std::string> aligns = table_alignments(lines[1]);
    if (!aligns.empty()) return table_html(lines, aligns);
  }
  std::string text;
  for (std::string_view line : lines) text += (text.empty() ? "" : "\n") + inline_html(trim(line));
  return "<p>" + text + "</p>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_path(const std::filesystem::path& relative) {
  const std::string s = relative.generic_string();
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80)
      out += c;
    else if (c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += c;
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string markdown_to_html(std::string_view markdown) {
  std::string out;
  std::set<std::string> ids;
  std::vector<std::string_view> block;
  auto flush = [&] {
    if (!block.empty()) out += block_html(block, ids);
    block.clear();
  };
  size_t at = 0;
  while (at <= markdown.size()) {
    size_t end = markdown.find('\n', at);
    if (end == std::string_view::npos) end = markdown.size();
    const std::string_view line = markdown.substr(at, end - at);
    at = end + 1;
    if (trim(line).empty()) {
      flush();
    } else if (is_heading(line)) {
      flush();  // a heading is a block of its own even without blank lines around it
      block.push_back(line);
      flush();
    } else {
      block.push_back(line);
    }
  }
  flush();
  return out;
}

std::vector<MarkdownSection> markdown_sections(std::string_view markdown) {
  std::vector<MarkdownSection> sections(1);
  size_t at = 0;
  while (at < markdown.size()) {
    size_t end = markdown.find('\n', at);
    end = end == std::string_view::npos ? markdown.size() : end + 1;
    const std::string_view line = markdown.substr(at, end - at);
    at = end;
    if (starts_with(line, "## ")) sections.push_back({std::string(trim(line.substr(3))), ""});
    sections.back().text += line;
  }
  if (sections.front().text.empty() && sections.size() > 1) sections.erase(sections.begin());
  return sections;
}

std::string html_figure(std::string_view svg, std::string_view caption) {
  svg = trim(svg);
  if (starts_with(svg, "<?xml")) {
    const size_t end = svg.find("?>");
    svg = trim(svg.substr(end == std::string_view::npos ? svg.size() : end + 2));
  }
  std::string text(svg);
  if (starts_with(text, "<svg"))
    text.insert(4, fmt::format(" role=\"img\" aria-label=\"{}\"", html_escape(caption)));
  return fmt::format("<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n", text, html_escape(caption));
}

std::string html_svg_image(std::string_view svg, std::string_view caption) {
  return fmt::format(
      "<figure>\n<img src=\"data:image/svg+xml;base64,{}\" "
      "alt=\"{}\">\n<figcaption>{}</figcaption>\n</figure>\n",
      base64(svg), html_escape(caption), html_escape(caption));
}

std::string html_link(std::string_view href, std::string_view text) {
  return fmt::format("<a href=\"{}\">{}</a>", html_escape(href), html_escape(text));
}

std::string render_html(const HtmlPage& page) {
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // No script runs and nothing loads from elsewhere, whatever a page holds: the browser refuses.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "img-src data:\">\n"
      "<meta name=\"generator\" "
      "content=\"plinth\">\n<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
      html_escape(page.title), kStyle);
  if (!page.nav.empty()) {
    out += "<nav>";
    // A space between the links: a narrow window breaks the line there (a link itself never).
    for (const auto& [text, href] : page.nav) out += html_link(href, text) + "\n";
    out += "</nav>\n";
  }
  return out + page.body + "</body>\n</html>\n";
}

}  // namespace plinth
