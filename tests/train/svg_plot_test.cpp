#include <catch2/catch.hpp>

#include <cmath>

#include "test_support.h"
#include "util/atomic_file.h"
#include "util/svg_plot.h"

using namespace plinth;

TEST_CASE("nice ticks land on 1, 2, 5 times a power of ten", "[train]") {
  CHECK(nice_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(nice_ticks(3, 9.5, 6) == std::vector<double>{4, 6, 8});
  CHECK(nice_ticks(3, 9.5, 12) == std::vector<double>{3, 4, 5, 6, 7, 8, 9});
  CHECK(nice_ticks(0, 2000, 4)[1] == Approx(500));
}

TEST_CASE("a line chart has its title, legend and lines - bad points are skipped", "[train]") {
  LineChart chart;
  chart.title = "loss <&> step";
  chart.x_label = "step";
  chart.y_label = "loss";
  chart.series.push_back({"train", {{0, 9.0}, {10, 6.5}, {20, std::nan("")}, {30, 4.0}}, false});
  chart.series.push_back({"val code", {{10, 7.0}}, true});
  std::string svg = render_svg(chart);
  CHECK_THAT(svg, Catch::StartsWith("<svg"));
  CHECK_THAT(svg, Catch::EndsWith("</svg>\n"));
  CHECK_THAT(svg, Catch::Contains("loss &lt;&amp;&gt; step"));
  CHECK_THAT(svg, Catch::Contains(">train</text>"));
  CHECK_THAT(svg, Catch::Contains(">val code</text>"));
  CHECK_THAT(svg, Catch::Contains("<polyline"));
  CHECK_THAT(svg, Catch::Contains("<circle"));  // a one-point series is still visible
  CHECK(svg.find("nan") == std::string::npos);

  test::TempDir dir;
  write_svg(dir / "plot.svg", chart);
  CHECK(read_file(dir / "plot.svg") == svg);
}
