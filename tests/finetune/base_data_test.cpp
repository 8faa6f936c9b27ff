// A fine-tune's data: section against the recipe its base checkpoint stores: the documents the
// base trained on must never be scored as validation, so any change to which documents exist or
// which of them are validation is refused, naming what differs; mixture weights may change.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "finetune/finetune_recipe.h"
#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "test_support.h"
#include "util/error.h"

using namespace plinth;

namespace {

const char* kData =
    "data:\n"
    "  shards: shards\n"
    "  domains:\n"
    "    - name: gpl\n"
    "      weight: 1\n"
    "      sources:\n"
    "        - path: /usr/share/common-licenses/GPL-3\n"
    "          documents: blank_line\n"
    "    - name: apache\n"
    "      weight: 2\n"
    "      sources:\n"
    "        - path: /usr/share/common-licenses/Apache-2.0\n"
    "          documents: blank_line\n";

// The base checkpoint's meta: the recipe it was pretrained with, as `plinth pretrain` stores it.
model::CheckpointContents base_with(const std::string& recipe_text) {
  model::CheckpointContents c;
  c.meta["recipe"] = recipe::to_yaml(recipe::parse_yaml(recipe_text, "base.yaml"));
  return c;
}

std::string problem(const Recipe& r, const model::CheckpointContents& base) {
  try {
    finetune::check_base_data(r, base, "runs/base/checkpoints/best.ckpt");
  } catch (const BadInput& e) {
    return e.what();
  }
  return "";
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("check_base_data: the base's data: section or exit 2 naming the difference", "[finetune]") {
  test::TempDir dir;
  const Recipe ours = load_and_bind(dir.write("ft.yaml", kData).string(), {});

  CHECK(problem(ours, base_with(kData)) == "");
  // Weights change how often the base saw a domain, not which documents are validation.
  CHECK(problem(ours, base_with(replaced(kData, "weight: 2", "weight: 7"))) == "");

  const std::string split = problem(ours, base_with(std::string(kData) + "  val_fraction: 0.2\n"));
  CHECK_THAT(split, Catch::Contains("data.val_fraction is 0.05 here, 0.2 in the base's"));
  CHECK_THAT(split, Catch::Contains("runs/base/checkpoints/best.ckpt"));
  CHECK_THAT(split, Catch::Contains("hint:"));
  CHECK_THAT(problem(ours, base_with(std::string(kData) + "  split_seed: 3\n")),
             Catch::Contains("split_seed"));
  CHECK_THAT(problem(ours, base_with(replaced(kData, "documents: blank_line\n    - name: apache",
                                              "documents: file\n    - name: apache"))),
             Catch::Contains("domain 'gpl' has other sources or document rules"));
  CHECK_THAT(problem(ours, base_with(replaced(kData, "name: apache", "name: asl"))),
             Catch::Contains("domain 'apache' is not one of the base's") &&
                 Catch::Contains("the base also trained on domain 'asl'"));

  // A base that stores no recipe cannot be checked: accepted (with a warning).
  CHECK(problem(ours, model::CheckpointContents{}) == "");
}
