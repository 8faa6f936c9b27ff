// A small line-chart writer: series of (x, y) points drawn as polylines on linear axes with
// "nice" ticks, a title, axis labels and a legend. Enough for loss curves in a run directory
// and forgetting reports; it opens in any browser. Points with a non-finite x or y are skipped
// (a NaN loss must not wreck the chart).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace plinth {

struct PlotSeries {
  std::string name;                               // legend entry
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  bool dashed = false;
};

struct LineChart {
  std::string title;
  std::string x_label, y_label;
  std::vector<PlotSeries> series;
  int width = 860, height = 480;  // pixels
};

std::string render_svg(const LineChart& chart);

// Renders and writes atomically (a viewer never sees half a file).
void write_svg(const std::filesystem::path& path, const LineChart& chart);

// Charts stacked top to bottom in one picture (each keeps its own axes), e.g. losses above and
// forgetting below; as wide as the widest.
std::string render_stacked_svg(const std::vector<LineChart>& charts);
// Rendered charts of any kind (svg_charts.h too) one above the other in one SVG document.
struct RenderedSvg {
  std::string text;  // a whole <svg ...>...</svg> document
  int width = 0, height = 0;
};
std::string stack_svg(const std::vector<RenderedSvg>& charts);
void write_svg(const std::filesystem::path& path, const std::vector<LineChart>& charts);

// Text made safe inside SVG/XML elements and attributes (& < > " ', as html_escape).
std::string svg_escape(const std::string& text);

// The i-th series colour (cycling): distinguishable on white, and in greyscale by order of
// lightness. Shared by every chart plinth draws, so a series keeps its colour across them.
const char* series_color(size_t i);

// Tick positions covering [lo, hi]: about `target` of them at 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// A tick's label for a tick spacing of `step`: few digits, no trailing zeros; large and tiny
// values in exponent form.
std::string tick_label(double v, double step);

}  // namespace plinth
