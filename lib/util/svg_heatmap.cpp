#include "util/svg_heatmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "util/svg_plot.h"

namespace plinth {

namespace {

// White at 0, full colour at |v| = scale: blue for positive, red for negative.
std::string cell_color(double v, double scale) {
  if (!std::isfinite(v) || !(scale > 0)) return "#f4f4f4";
  const double t = std::min(1.0, std::abs(v) / scale);
  auto mix = [t](int full) { return static_cast<int>(std::lround(255 + (full - 255) * t)); };
  return v >= 0 ? fmt::format("#{:02x}{:02x}{:02x}", mix(33), mix(102), mix(172))
                : fmt::format("#{:02x}{:02x}{:02x}", mix(202), mix(0), mix(32));
}

}  // namespace

std::string render_svg(const HeatMap& m) {
  const double label_width = 230, top = 70, cw = m.cell_width, ch = m.cell_height;
  const double width = label_width + cw * double(m.columns.size()) + 20;
  const double height = top + ch * double(m.rows.size()) + 50;
  auto group = [&](size_t c) { return m.column_group.empty() ? 0 : m.column_group.at(c); };
  std::map<int, double> scale;
  for (size_t r = 0; r < m.rows.size(); ++r)
    for (size_t c = 0; c < m.columns.size(); ++c)
      if (std::isfinite(m.values[r][c]))
        scale[group(c)] = std::max(scale[group(c)], std::abs(m.values[r][c]));

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} "
      "{1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2:.1f}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, width / 2, svg_escape(m.title));
  for (size_t c = 0; c < m.columns.size(); ++c)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                       label_width + cw * (double(c) + 0.5), top - 10, svg_escape(m.columns[c]));
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const double y = top + ch * double(r);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", label_width - 8,
                       y + ch / 2 + 4, svg_escape(m.rows[r]));
    for (size_t c = 0; c < m.columns.size(); ++c) {
      const double v = m.values[r][c];
      std::string text = r < m.text.size() && c < m.text[r].size() ? m.text[r][c] : "";
      if (text.empty()) text = std::isfinite(v) ? fmt::format("{:+.2f}", v) : "";
      const double x = label_width + cw * double(c);
      const bool dark = std::isfinite(v) && scale[group(c)] > 0 && std::abs(v) / scale[group(c)] > 0.6;
      svg += fmt::format(
          "<rect class=\"cell\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
          "stroke=\"white\"><title>{}, {}: {}</title></rect>\n",
          x, y, cw, ch, cell_color(v, scale[group(c)]), svg_escape(m.rows[r]), svg_escape(m.columns[c]),
          svg_escape(text.empty() ? "n/a" : text));
      if (!text.empty())
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                           x + cw / 2, y + ch / 2 + 4, dark ? "white" : "#222", svg_escape(text));
    }
  }
  if (!m.note.empty())
    svg +=
        fmt::format("<text x=\"10\" y=\"{:.1f}\" fill=\"#555\">{}</text>\n", height - 18, svg_escape(m.note));
  svg += "</svg>\n";
  return svg;
}

}  // namespace plinth
