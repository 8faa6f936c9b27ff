// Two more chart kinds beside svg_plot.h's line chart: grouped bars (per-domain base vs tuned
// bits per byte in a forgetting report) and a labelled scatter (task gain against forgetting,
// one point per run). Same look as svg_plot: white background, light grid, "nice" ticks.
// Non-finite values are not drawn (their bar or point is left out, its label says n/a).
#pragma once

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace plinth {

struct BarGroup {
  std::string label;           // under the group (e.g. the domain)
  std::vector<double> values;  // one per BarChart::series, in that order
  std::string note;            // above the group (e.g. "+3.2%"); may be empty
  // Optional error bars, one (low, high) per value; an empty list or a non-finite end = none.
  std::vector<std::pair<double, double>> errors;
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> series;  // legend, one colour each (e.g. "base", "tuned")
  std::vector<BarGroup> groups;
  int width = 860, height = 480;  // pixels; groups narrower than ~40 px get rotated labels
};

// Every bar is a <rect class="bar"> with a <title> (series, group, value) for hover.
std::string render_svg(const BarChart& chart);

struct ScatterPoint {
  std::string label;  // written beside the point
  double x = 0, y = 0;
  // Optional error bars: the interval of x and of y; non-finite ends = none.
  double x_lo = std::numeric_limits<double>::quiet_NaN(), x_hi = std::numeric_limits<double>::quiet_NaN();
  double y_lo = std::numeric_limits<double>::quiet_NaN(), y_hi = std::numeric_limits<double>::quiet_NaN();
  int color = -1;       // series_color index; -1 = the point's own index
  bool marked = false;  // drawn with a ring around it (e.g. on a Pareto frontier)
};

// A line through some of the chart's points, in order (e.g. one run's interpolation from α = 0
// to 1), in series_color(color), named in a legend.
struct ScatterCurve {
  std::string name;
  std::vector<size_t> points;  // indices into ScatterChart::points
  int color = 0;
};

struct ScatterChart {
  std::string title, x_label, y_label;
  std::vector<ScatterPoint> points;
  std::vector<ScatterCurve> curves;  // drawn under the points; a legend when any is named
  bool zero_lines = true;            // draw x = 0 and y = 0 when inside the axes
  // Indices of points joined by one line, in this order (e.g. a Pareto frontier), under the
  // points; `line_label` names it in the top-left corner.
  std::vector<size_t> line;
  std::string line_label;
  int width = 860, height = 520;
};

// Every point is a <circle class="point"> with a <title> (label, x, y); the line is a
// <polyline class="line">, a marked point's ring a <circle class="mark">.
std::string render_svg(const ScatterChart& chart);

}  // namespace plinth
