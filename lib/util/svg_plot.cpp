#include "util/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/atomic_file.h"
#include "util/html_page.h"

namespace plinth {

namespace {

double tick_step(double lo, double hi, int target) {
  double raw = (hi - lo) / std::max(1, target);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10.0 * magnitude;
}

}  // namespace

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) return "0";
  double a = std::abs(v);
  if (a >= 1e6 || a < 1e-3) return fmt::format("{:.3g}", v);
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  double step = tick_step(lo, hi, target);
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

std::string svg_escape(const std::string& s) {
  return html_escape(s);  // the same five characters are special in XML
}

const char* series_color(size_t i) {
  static constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                            "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return kColors[i % std::size(kColors)];
}

namespace {

// One series of a line chart: its polyline (a dot when it has one point) and its legend entry,
// whose line starts at (legend_x, legend_y).
template <class Px, class Py>
std::string series_svg(const PlotSeries& s, const char* color, const Px& px, const Py& py, double legend_x,
                       double legend_y) {
  std::string svg, points;
  const char* dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
  size_t drawn = 0;
  double last_x = 0, last_y = 0;
  for (const auto& [x, y] : s.points)
    if (std::isfinite(x) && std::isfinite(y)) {
      points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
      ++drawn, last_x = x, last_y = y;
    }
  if (drawn == 1)  // a polyline of one point is invisible
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(last_x), py(last_y),
                       color);
  else if (drawn > 1)
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{} points=\"{}\"/>\n",
                       color, dash, points);
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
      "stroke-width=\"2\"{4}/>\n",
      legend_x, legend_y, legend_x + 24, color, dash);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", legend_x + 30, legend_y + 4,
                     svg_escape(s.name));
  return svg;
}

}  // namespace

std::string render_svg(const LineChart& chart) {
  const double w = chart.width, h = chart.height;
  const double left = 70, right = 190, top = 40, bottom = 55;  // margins; the legend sits on the right
  const double pw = w - left - right, ph = h - top - bottom;

  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : chart.series)
    for (const auto& [x, y] : s.points)
      if (std::isfinite(x) && std::isfinite(y)) {
        x0 = std::min(x0, x), x1 = std::max(x1, x);
        y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y0 -= 0.5, y1 += 0.5;
  // Axes end on ticks, so the data never touches the frame between two labels.
  double xs = tick_step(x0, x1, 8), ys = tick_step(y0, y1, 6);
  x0 = std::floor(x0 / xs) * xs, x1 = std::ceil(x1 / xs) * xs;
  y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1.0 - (y - y0) / (y1 - y0)) * ph; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      chart.width, chart.height);
  svg += fmt::format("<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                     left + pw / 2, svg_escape(chart.title));

  for (double t : nice_ticks(x0, x1, 8)) {
    double x = px(t);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n", x, top,
        top + ph);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x, top + ph + 16,
                       tick_label(t, xs));
  }
  for (double t : nice_ticks(y0, y1, 6)) {
    double y = py(t);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n", left, y,
        left + pw);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, y + 4,
                       tick_label(t, ys));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
                     left, top, pw, ph);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                     h - 14, svg_escape(chart.x_label));
  svg +=
      fmt::format("<text transform=\"translate(18 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                  top + ph / 2, svg_escape(chart.y_label));

  for (size_t i = 0; i < chart.series.size(); ++i)
    svg += series_svg(chart.series[i], series_color(i), px, py, left + pw + 14,
                      top + 10 + 18 * static_cast<double>(i));
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::filesystem::path& path, const LineChart& chart) {
  write_file_atomic(path, render_svg(chart));
}

std::string render_stacked_svg(const std::vector<LineChart>& charts) {
  std::vector<RenderedSvg> rendered;
  for (const auto& chart : charts) rendered.push_back({render_svg(chart), chart.width, chart.height});
  return stack_svg(rendered);
}

std::string stack_svg(const std::vector<RenderedSvg>& charts) {
  int width = 0, height = 0;
  std::string inner;
  for (const auto& chart : charts) {
    // Each chart is a nested <svg> moved down by the heights above it.
    std::string one = chart.text;
    one.insert(std::string("<svg").size(), fmt::format(" y=\"{}\"", height));
    inner += one;
    width = std::max(width, chart.width);
    height += chart.height;
  }
  return fmt::format(
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
             "{1}\">\n",
             width, height) +
         inner + "</svg>\n";
}

void write_svg(const std::filesystem::path& path, const std::vector<LineChart>& charts) {
  write_file_atomic(path, render_stacked_svg(charts));
}

}  // namespace plinth
