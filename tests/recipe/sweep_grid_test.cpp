// A sweep's grid: --grid flags and a pipeline's sweep: section to axes, the points in order with
// their labels and overrides, and the shapes of grid that are refused (each naming the axis).
#include "recipe/sweep_grid.h"

#include <catch2/catch.hpp>

#include "recipe/recipe_loader.h"

using Catch::Matchers::Contains;
using namespace plinth;
using namespace plinth::recipe;

namespace {

std::string refusal(const SweepGrid& grid) {
  try {
    check_grid(grid);
  } catch (const BadInput& e) {
    return e.what();
  }
  FAIL("expected plinth::BadInput");
  return {};
}

}  // namespace

TEST_CASE("sweep grid: flags, points, labels and overrides", "[recipe][sweep]") {
  const SweepGrid grid = {parse_grid_flag("finetune.lora.rank=4,8"),
                          parse_grid_flag("train.lr = 2e-4, 1e-3")};
  CHECK(grid[1].key == "train.lr");
  CHECK(grid[1].values == std::vector<std::string>{"2e-4", "1e-3"});
  check_grid(grid);
  const auto points = grid_points(grid);
  REQUIRE(points.size() == 4);
  CHECK(points[0].label == "rank4-lr2e-4");  // the first axis varies slowest
  CHECK(points[1].label == "rank4-lr1e-3");
  CHECK(points[3].label == "rank8-lr1e-3");
  CHECK(points[2].overrides == std::vector<std::string>{"finetune.lora.rank=8", "train.lr=2e-4"});

  // Commas inside brackets belong to the value; unsafe characters become '_'.
  const GridAxis targets = parse_grid_flag("finetune.lora.targets=[q_proj, v_proj],[o_proj]");
  CHECK(targets.values == std::vector<std::string>{"[q_proj, v_proj]", "[o_proj]"});
  CHECK(grid_points({targets})[0].label == "targets_q_proj__v_proj_");

  // Two keys ending alike are named in full; values that would share a label get a hash.
  const auto alike = grid_points({parse_grid_flag("a.x=1,2"), parse_grid_flag("b.x=3,4")});
  CHECK(alike[0].label == "a.x1-b.x3");
  const auto clash = grid_points({parse_grid_flag("task.path=a/b,a_b")});
  CHECK(clash[0].label != clash[1].label);
  CHECK_THAT(clash[0].label, Catch::Matchers::StartsWith("patha_b-"));
}

TEST_CASE("sweep grid: bad shapes are refused, naming the axis", "[recipe][sweep]") {
  CHECK_THROWS_WITH(parse_grid_flag("train.lr"), Contains("--grid 'train.lr': no '=' in it"));
  CHECK_THROWS_WITH(parse_grid_flag("=1,2"), Contains("the key before '=' is empty"));
  CHECK_THAT(refusal({parse_grid_flag("train.lr=1e-3")}),
             Contains("--grid train.lr=1e-3: train.lr: a grid needs two values or more, got 1"));
  CHECK_THAT(refusal({parse_grid_flag("train.lr=1e-3,2e-3,0.001")}),
             Contains("the value 0.001 is listed twice (1e-3 and 0.001)"));
  CHECK_THAT(refusal({parse_grid_flag("train.lr=1,2"), parse_grid_flag("train.lr=3,4")}),
             Contains("train.lr: the key is given twice"));
  CHECK_THAT(refusal({parse_grid_flag("train.run_dir=a,b")}), Contains("sets each point's run directory"));
  CHECK_THAT(refusal({}), Contains("the grid is empty"));
}

TEST_CASE("sweep grid: a pipeline's sweep: section", "[recipe][sweep]") {
  const ConfigNode root =
      parse_yaml("sweep:\n  grid:\n    finetune.lora.rank: [4, 8]\n    train.lr: 1e-3\n", "pipe.yaml");
  Diagnostics diag;
  ConfigSection top(&root, "", diag, Location{"pipe.yaml"});
  ConfigSection sweep = top.child("sweep");
  const SweepGrid grid = bind_sweep(sweep, root.find("sweep"));
  CHECK(diag.empty());
  REQUIRE(grid.size() == 2);
  CHECK(grid[0].values == std::vector<std::string>{"4", "8"});
  CHECK_THAT(refusal(grid),
             Contains("pipe.yaml:4:") && Contains("train.lr: a grid needs two values or more"));

  const ConfigNode typo = parse_yaml("sweep:\n  grdi: {train.lr: [1, 2]}\n", "pipe.yaml");
  Diagnostics typo_diag;
  ConfigSection typo_top(&typo, "", typo_diag, Location{"pipe.yaml"});
  ConfigSection typo_sweep = typo_top.child("sweep");
  CHECK(bind_sweep(typo_sweep, typo.find("sweep")).empty());
  REQUIRE(!typo_diag.empty());
  CHECK_THAT(typo_diag.problems()[0].hint, Contains("did you mean 'grid'"));
}
