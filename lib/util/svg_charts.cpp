#include "util/svg_charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "util/svg_plot.h"

namespace plinth {

namespace {

// An axis that starts and ends on a tick of nice_ticks (svg_plot.h).
struct Axis {
  double lo, hi, step;
  std::vector<double> ticks;
};

Axis make_axis(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi <= lo) lo -= 0.5, hi += 0.5;
  std::vector<double> t = nice_ticks(lo, hi, target);
  double step = t.size() > 1 ? t[1] - t[0] : (hi - lo);
  Axis a{std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step, {}};
  a.ticks = nice_ticks(a.lo, a.hi, target);
  return a;
}

std::string value_text(double v) {
  return std::isfinite(v) ? fmt::format("{:.4g}", v) : "n/a";
}

std::string header(int width, int height, const std::string& title, double title_x) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2:.1f}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, title_x, svg_escape(title));
}

std::string y_grid(const Axis& y, double left, double width, const std::function<double(double)>& py) {
  std::string svg;
  for (double t : y.ticks) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n", left,
        py(t), left + width);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, py(t) + 4,
                       tick_label(t, y.step));
  }
  return svg;
}

std::string y_label(const std::string& label, double center) {
  return fmt::format(
      "<text transform=\"translate(18 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n", center,
      svg_escape(label));
}

// A line from (x0, y0) to (x1, y1) with caps `cap` pixels wide across its ends.
std::string error_bar(double x0, double y0, double x1, double y1, double cap, bool vertical,
                      const char* color = "#222") {
  std::string svg = fmt::format(
      "<line class=\"error\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n", x0,
      y0, x1, y1, color);
  for (auto [x, y] : {std::pair{x0, y0}, std::pair{x1, y1}})
    svg +=
        vertical
            ? fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n",
                          x - cap / 2, y, x + cap / 2, y, color)
            : fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n",
                          x, y - cap / 2, x, y + cap / 2, color);
  return svg;
}

// A scatter chart's plot area: the frame in pixels, its two axes, and value -> pixel.
struct ScatterArea {
  double left = 70, right = 40, top = 40, bottom = 55;
  double pw = 0, ph = 0;  // the plot's width and height in pixels
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * pw; }
  double py(double v) const { return top + (1.0 - (v - y.lo) / (y.hi - y.lo)) * ph; }
};

// The axes cover every point with its error bars (and the origin with zero_lines), with a margin
// so that points and their labels stay off the frame.
ScatterArea scatter_area(const ScatterChart& chart) {
  ScatterArea a;
  a.pw = chart.width - a.left - a.right;
  a.ph = chart.height - a.top - a.bottom;
  const double inf = std::numeric_limits<double>::infinity();
  double x0 = inf, x1 = -inf, y0 = inf, y1 = -inf;
  if (chart.zero_lines) x0 = x1 = y0 = y1 = 0;  // the base model sits at the origin: keep it in view
  for (const auto& p : chart.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    if (std::isfinite(p.x_lo) && std::isfinite(p.x_hi)) x0 = std::min(x0, p.x_lo), x1 = std::max(x1, p.x_hi);
    if (std::isfinite(p.y_lo) && std::isfinite(p.y_hi)) y0 = std::min(y0, p.y_lo), y1 = std::max(y1, p.y_hi);
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  const double mx = (x1 - x0) * 0.08, my = (y1 - y0) * 0.08;
  a.x = make_axis(x0 - mx, x1 + mx + (x1 - x0) * 0.12, 8);  // labels extend to the right
  a.y = make_axis(y0 - my, y1 + my, 6);
  return a;
}

// The grid, the dashed zero lines, the frame and the axis labels.
std::string scatter_frame(const ScatterChart& chart, const ScatterArea& a) {
  std::string svg;
  for (double t : a.x.ticks) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n", a.px(t),
        a.top, a.top + a.ph);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", a.px(t),
                       a.top + a.ph + 16, tick_label(t, a.x.step));
  }
  svg += y_grid(a.y, a.left, a.pw, [&](double v) { return a.py(v); });
  if (chart.zero_lines) {
    if (a.x.lo < 0 && a.x.hi > 0)
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#999\" "
          "stroke-dasharray=\"4 3\"/>\n",
          a.px(0), a.top, a.top + a.ph);
    if (a.y.lo < 0 && a.y.hi > 0)
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#999\" "
          "stroke-dasharray=\"4 3\"/>\n",
          a.left, a.py(0), a.left + a.pw);
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
                     a.left, a.top, a.pw, a.ph);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", a.left + a.pw / 2,
                     static_cast<double>(chart.height) - 14, svg_escape(chart.x_label));
  return svg + y_label(chart.y_label, a.top + a.ph / 2);
}

// The dashed line through chart.line's points and the curves, with their legend top left.
std::string scatter_lines(const ScatterChart& chart, const ScatterArea& a) {
  std::string svg, joined;
  size_t joints = 0;
  for (size_t i : chart.line)
    if (i < chart.points.size() && std::isfinite(chart.points[i].x) && std::isfinite(chart.points[i].y))
      joined += fmt::format("{}{:.1f},{:.1f}", joints++ ? " " : "", a.px(chart.points[i].x),
                            a.py(chart.points[i].y));
  if (joints < 2) joined.clear();  // one point makes no line
  if (!joined.empty())
    svg += fmt::format(
        "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"#555\" stroke-width=\"2\" "
        "stroke-dasharray=\"6 3\"/>\n",
        joined);
  if (!joined.empty() && !chart.line_label.empty())
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">- - {}</text>\n", a.left + 8,
                       a.top + 16, svg_escape(chart.line_label));
  // The curves' legend, under the joined line's label when there is one.
  double legend_y = a.top + 16 + (!joined.empty() && !chart.line_label.empty() ? 16 : 0);
  for (const auto& curve : chart.curves) {
    std::string path;
    for (size_t i : curve.points) {
      const ScatterPoint& p = chart.points.at(i);
      if (std::isfinite(p.x) && std::isfinite(p.y))
        path += fmt::format("{:.1f},{:.1f} ", a.px(p.x), a.py(p.y));
    }
    const char* color = series_color(static_cast<size_t>(curve.color));
    svg += fmt::format(
        "<polyline class=\"curve\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path,
        color);
    if (curve.name.empty()) continue;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
        "stroke-width=\"2\"/>\n"
        "<text x=\"{4:.1f}\" y=\"{5:.1f}\">{6}</text>\n",
        a.left + 10, legend_y, a.left + 34, color, a.left + 40, legend_y + 4, svg_escape(curve.name));
    legend_y += 16;
  }
  return svg;
}

// Each point with its error bars, its mark when marked, and its label.
std::string scatter_points(const ScatterChart& chart, const ScatterArea& a) {
  std::string svg;
  for (size_t i = 0; i < chart.points.size(); ++i) {
    const ScatterPoint& p = chart.points[i];
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    const char* color = series_color(p.color >= 0 ? static_cast<size_t>(p.color) : i);
    if (std::isfinite(p.x_lo) && std::isfinite(p.x_hi))
      svg += error_bar(a.px(p.x_lo), a.py(p.y), a.px(p.x_hi), a.py(p.y), 6, false, color);
    if (std::isfinite(p.y_lo) && std::isfinite(p.y_hi))
      svg += error_bar(a.px(p.x), a.py(p.y_lo), a.px(p.x), a.py(p.y_hi), 6, true, color);
    svg += fmt::format(
        "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"><title>{}: x {}, y "
        "{}</title>"
        "</circle>\n",
        a.px(p.x), a.py(p.y), color, svg_escape(p.label), value_text(p.x), value_text(p.y));
    if (p.marked)
      svg += fmt::format(
          "<circle class=\"mark\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"9\" fill=\"none\" stroke=\"#222\" "
          "stroke-width=\"1.5\"/>\n",
          a.px(p.x), a.py(p.y));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", a.px(p.x) + 8,
                       a.py(p.y) - 6, color, svg_escape(p.label));
  }
  return svg;
}

}  // namespace

std::string render_svg(const BarChart& chart) {
  const double w = chart.width, h = chart.height;
  const double left = 70, right = 130, top = 50, bottom = 70;
  const double pw = w - left - right, ph = h - top - bottom;

  double lo = 0, hi = 0;  // bars grow from 0
  for (const auto& g : chart.groups) {
    for (double v : g.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    for (const auto& [a, b] : g.errors)
      if (std::isfinite(a) && std::isfinite(b)) lo = std::min(lo, a), hi = std::max(hi, b);
  }
  if (hi <= lo) hi = lo + 1;
  Axis y = make_axis(lo, hi + (hi - lo) * 0.08, 6);  // room for the notes above the bars
  std::function<double(double)> py = [&](double v) { return top + (1.0 - (v - y.lo) / (y.hi - y.lo)) * ph; };

  std::string svg = header(chart.width, chart.height, chart.title, left + pw / 2);
  svg += y_grid(y, left, pw, py);
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
                     left, top, pw, ph);
  svg += y_label(chart.y_label, top + ph / 2);

  const size_t n = std::max<size_t>(1, chart.groups.size());
  const size_t k = std::max<size_t>(1, chart.series.size());
  const double group_w = pw / double(n);
  const double bar_w = group_w * 0.75 / double(k);
  const bool rotate = group_w < 60;
  for (size_t gi = 0; gi < chart.groups.size(); ++gi) {
    const BarGroup& g = chart.groups[gi];
    const double gx = left + group_w * double(gi) + group_w * 0.125;
    double top_of_group = py(0);
    for (size_t si = 0; si < k && si < g.values.size(); ++si) {
      double v = g.values[si];
      if (!std::isfinite(v)) continue;
      double y0 = py(std::max(0.0, v)), y1 = py(std::min(0.0, v));
      top_of_group = std::min(top_of_group, y0);
      std::string series = si < chart.series.size() ? chart.series[si] : "";
      svg += fmt::format(
          "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
          "<title>{} {}: {}</title></rect>\n",
          gx + bar_w * double(si), y0, bar_w, std::max(0.5, y1 - y0), series_color(si), svg_escape(g.label),
          svg_escape(series), value_text(v));
      if (si < g.errors.size() && std::isfinite(g.errors[si].first) && std::isfinite(g.errors[si].second)) {
        const double ex = gx + bar_w * (double(si) + 0.5), ea = py(g.errors[si].first),
                     eb = py(g.errors[si].second);
        svg += error_bar(ex, ea, ex, eb, bar_w * 0.3, true);
        top_of_group = std::min(top_of_group, eb);
      }
    }
    const double cx = gx + bar_w * double(k) / 2;
    if (!g.note.empty())
      svg +=
          fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
                      cx, top_of_group - 5, svg_escape(g.note));
    if (rotate)
      svg += fmt::format(
          "<text transform=\"translate({:.1f} {:.1f}) rotate(-35)\" text-anchor=\"end\">{}</text>\n", cx,
          top + ph + 14, svg_escape(g.label));
    else
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", cx,
                         top + ph + 16, svg_escape(g.label));
  }
  for (size_t si = 0; si < chart.series.size(); ++si) {
    double ly = top + 10 + 18 * double(si);
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"10\" fill=\"{}\"/>\n",
                       left + pw + 14, ly - 5, series_color(si));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", left + pw + 34, ly + 4,
                       svg_escape(chart.series[si]));
  }
  svg += "</svg>\n";
  return svg;
}

std::string render_svg(const ScatterChart& chart) {
  const ScatterArea area = scatter_area(chart);
  return header(chart.width, chart.height, chart.title, area.left + area.pw / 2) +
         scatter_frame(chart, area) + scatter_lines(chart, area) + scatter_points(chart, area) + "</svg>\n";
}

}  // namespace plinth
