// The recipe's finetune: section (finetune/finetune_spec.h): its defaults, every mistake reported
// with its key, and where finetune.base finds a base checkpoint.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "finetune/finetune_spec.h"
#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "train/checkpoint_files.h"
#include "util/error.h"

using namespace plinth;
using test::bad_input_message;
namespace fs = std::filesystem;

namespace {

// Binds `finetune:` from YAML text; returns the problems' text ("" when valid).
std::string bind_errors(const std::string& yaml, finetune::FinetuneSpec& spec) {
  ConfigNode root = recipe::parse_yaml(yaml, "recipe.yaml");
  Diagnostics diag;
  ConfigSection s(root.find("finetune"), "finetune", diag, Location{"recipe.yaml"});
  finetune::bind(s, spec);
  std::string text;
  for (const auto& p : diag.problems()) text += p.str() + "\n";
  return text;
}

}  // namespace

TEST_CASE("the finetune section binds, with defaults", "[finetune][spec]") {
  finetune::FinetuneSpec spec;
  SECTION("the least there is: a base") {
    CHECK(bind_errors("finetune:\n  base: runs/quickstart\n", spec) == "");
    CHECK(spec.base == "runs/quickstart");
    CHECK(spec.method == "full");
    CHECK(spec.lora.rank == 8);
    CHECK(spec.lora.targets == std::vector<std::string>{"q_proj", "v_proj"});
    CHECK(spec.ewc.fisher_sequences == 128);
    CHECK(spec.distill.weight == 0.0);
    CHECK(spec.distill.on == "task");
    CHECK(finetune::method_label(spec) == "full");
  }
  SECTION("every key") {
    CHECK(bind_errors("finetune:\n"
                      "  base: runs/q/checkpoints/best.ckpt\n"
                      "  method: full\n"
                      "  freeze: {embeddings: true, first_layers: 1, patterns: ['layers\\.1\\.mlp']}\n"
                      "  replay:\n"
                      "    fraction: 0.25\n"
                      "    domains:\n"
                      "      - {name: alpha, weight: 2}\n"
                      "      - {name: beta}\n"
                      "  ewc: {lambda: 100, fisher_sequences: 8}\n"
                      "  l2sp: {alpha: 0.01}\n"
                      "  distill: {weight: 0.5, on: replay}\n",
                      spec) == "");
    CHECK(spec.distill.weight == 0.5);
    CHECK(spec.distill.on == "replay");
    CHECK(spec.freeze.embeddings);
    CHECK(spec.freeze.first_layers == 1);
    CHECK(spec.freeze.patterns == std::vector<std::string>{"layers\\.1\\.mlp"});
    CHECK(spec.replay.fraction == 0.25);
    CHECK(spec.replay.domains == std::vector<std::pair<std::string, double>>{{"alpha", 2.0}, {"beta", 1.0}});
    CHECK(spec.ewc.lambda == 100);
    CHECK(spec.ewc.fisher_sequences == 8);
    CHECK(spec.l2sp.alpha == 0.01);
    CHECK(finetune::method_label(spec) == "full+freeze+replay+ewc+l2sp+distill");
  }
  SECTION("lora") {
    CHECK(bind_errors("finetune:\n  base: b.ckpt\n  method: lora\n"
                      "  lora: {rank: 4, alpha: 8, dropout: 0.05, targets: [q_proj, k_proj, mlp]}\n"
                      "  replay: {fraction: 0.1}\n",
                      spec) == "");
    CHECK(spec.lora.rank == 4);
    CHECK(spec.lora.alpha == 8);
    CHECK(spec.lora.dropout == 0.05);
    CHECK(spec.lora.targets.size() == 3);
    CHECK(finetune::method_label(spec) == "lora+replay");
  }
  SECTION("generated replay, distilled on") {
    CHECK(bind_errors("finetune:\n  base: b\n"
                      "  replay: {fraction: 0.2, source: generated, documents: 64, max_tokens: 100, "
                      "temperature: 0.8, top_p: 0.9, seed: 7}\n"
                      "  distill: {weight: 1, on: generated}\n",
                      spec) == "");
    CHECK(spec.replay.generated());
    CHECK(spec.replay.documents == 64);
    CHECK(spec.replay.max_tokens == 100);
    CHECK(spec.replay.temperature == 0.8);
    CHECK(spec.replay.top_p == 0.9);
    CHECK(spec.replay.seed == 7);
    CHECK(spec.distill.on == "generated");
    CHECK(finetune::method_label(spec) == "full+genreplay+distill");
  }
}

TEST_CASE("the finetune section reports every mistake", "[finetune][spec]") {
  finetune::FinetuneSpec spec;
  SECTION("base is required") {
    CHECK_THAT(bind_errors("finetune:\n  method: full\n", spec),
               Catch::Contains("finetune.base: missing required key"));
  }
  SECTION("lora settings with method full") {
    std::string e = bind_errors("finetune:\n  base: b\n  lora: {rank: 4}\n", spec);
    CHECK_THAT(e, Catch::Contains("finetune.lora"));
    CHECK_THAT(e, Catch::Contains("method is full"));
    CHECK_THAT(e, Catch::Contains("method: lora"));
  }
  SECTION("EWC and L2-SP with method lora") {
    std::string e =
        bind_errors("finetune:\n  base: b\n  method: lora\n  ewc: {lambda: 10}\n  l2sp: {alpha: 1}\n", spec);
    CHECK_THAT(e, Catch::Contains("finetune.ewc: EWC with method lora"));
    CHECK_THAT(e, Catch::Contains("finetune.l2sp: L2-SP with method lora"));
    CHECK_THAT(e, Catch::Contains("the adapters start at zero; EWC/L2-SP pull full weights toward the base"));
    // Off (0) is fine with lora.
    finetune::FinetuneSpec fresh;
    CHECK(bind_errors("finetune:\n  base: b\n  method: lora\n  ewc: {lambda: 0}\n", fresh) == "");
  }
  SECTION("distillation: a negative weight, an unknown source, replayed or generated rows without them") {
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  distill: {weight: -1}\n", spec),
               Catch::Contains("finetune.distill.weight"));
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  distill: {weight: 1, on: prompts}\n", spec),
               Catch::Contains("finetune.distill.on: 'prompts' is not one of task, replay, generated"));
    CHECK_THAT(
        bind_errors("finetune:\n  base: b\n  distill: {weight: 1, on: generated}\n", spec),
        Catch::Contains("finetune.distill.on: distillation on generated rows, but no generated replay"));
    finetune::FinetuneSpec data_replay;
    CHECK_THAT(bind_errors(
                   "finetune:\n  base: b\n  replay: {fraction: 0.2}\n  distill: {weight: 1, on: generated}\n",
                   data_replay),
               Catch::Contains("finetune.distill.on: distillation on generated rows"));
    finetune::FinetuneSpec fresh;
    CHECK_THAT(
        bind_errors("finetune:\n  base: b\n  method: lora\n  distill: {weight: 1, on: replay}\n", fresh),
        Catch::Contains("finetune.distill.on: distillation on replayed rows, but replay is off") &&
            Catch::Contains("replay.fraction"));
    finetune::FinetuneSpec lora;
    CHECK(bind_errors("finetune:\n  base: b\n  method: lora\n  distill: {weight: 2}\n", lora) == "");
    CHECK(finetune::method_label(lora) == "lora+distill");
  }
  SECTION("generated replay's settings: ranges, and keys of the other source") {
    const std::string e = bind_errors(
        "finetune:\n  base: b\n"
        "  replay: {fraction: 0.2, source: generated, documents: 0, temperature: 0, top_p: 1.5, seed: -1, "
        "domains: [{name: a}]}\n",
        spec);
    for (const char* key :
         {"finetune.replay.documents", "finetune.replay.temperature", "finetune.replay.top_p",
          "finetune.replay.seed", "finetune.replay.domains: generated documents have no domains"}) {
      INFO(key);
      CHECK_THAT(e, Catch::Contains(key));
    }
    CHECK_THAT(e, Catch::Contains("1.5 is not in (0, 1]"));
    finetune::FinetuneSpec zero_top_p;
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay: {fraction: 0.2, source: generated, top_p: 0}\n",
                           zero_top_p),
               Catch::Contains("finetune.replay.top_p"));
    finetune::FinetuneSpec data;
    CHECK_THAT(
        bind_errors("finetune:\n  base: b\n  replay: {fraction: 0.2, documents: 10}\n", data),
        Catch::Contains("finetune.replay.documents: is a setting of generated replay, but source is data"));
    finetune::FinetuneSpec off;
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay: {source: generated}\n", off),
               Catch::Contains("finetune.replay.source: generated replay, but fraction is 0"));
    finetune::FinetuneSpec unknown;
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay: {fraction: 0.2, source: model}\n", unknown),
               Catch::Contains("finetune.replay.source"));
  }
  SECTION("freeze with method lora") {
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  method: lora\n  freeze: {embeddings: true}\n", spec),
               Catch::Contains("finetune.freeze"));
  }
  SECTION("ranges, regexes and unknown keys, all at once") {
    std::string e = bind_errors(
        "finetune:\n  base: b\n  method: lora\n"
        "  lora: {rank: 0, alpha: 0, dropout: 1, targets: ['q_proj(']}\n"
        "  replay:\n    fraction: 1\n    domains:\n      - {name: a, weight: -1}\n"
        "      - {weight: 1}\n      - {name: c, wieght: 1}\n"
        "  ewc: {lambda: -1, fisher_sequences: 0}\n"
        "  l2sp: {alpha: -2}\n"
        "  methd: lora\n",
        spec);
    for (const char* key :
         {"finetune.lora.rank", "finetune.lora.alpha", "finetune.lora.dropout", "finetune.lora.targets",
          "finetune.replay.fraction", "finetune.replay.domains[0].weight", "finetune.replay.domains[1].name",
          "finetune.replay.domains[2].wieght", "finetune.ewc.lambda", "finetune.ewc.fisher_sequences",
          "finetune.l2sp.alpha", "finetune.methd"}) {
      INFO(key);
      CHECK_THAT(e, Catch::Contains(key));
    }
    CHECK_THAT(e, Catch::Contains("is not a valid regex"));
    CHECK_THAT(e, Catch::Contains("did you mean"));
    CHECK_THAT(e, Catch::Contains("recipe.yaml:"));
  }
  SECTION("replay domains: twice, or all at weight 0") {
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay:\n    fraction: 0.2\n    domains:\n"
                           "      - {name: a}\n      - {name: a}\n",
                           spec),
               Catch::Contains("listed twice"));
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay:\n    fraction: 0.2\n    domains:\n"
                           "      - {name: a, weight: 0}\n",
                           spec),
               Catch::Contains("weight 0"));
  }
  SECTION("the Fisher's old batch keys name their replacement") {
    std::string e =
        bind_errors("finetune:\n  base: b\n  ewc: {lambda: 1, fisher_batches: 16, fisher_rows: 8}\n", spec);
    CHECK_THAT(e, Catch::Contains("finetune.ewc.fisher_batches: is gone"));
    CHECK_THAT(e, Catch::Contains("finetune.ewc.fisher_rows: is gone"));
    CHECK_THAT(e, Catch::Contains("fisher_sequences"));
  }
  SECTION("method must be full or lora") {
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  method: adapter\n", spec),
               Catch::Contains("finetune.method"));
  }
}

TEST_CASE("finetune.base: a run directory's best, else latest, checkpoint, or a file", "[finetune][spec]") {
  test::TempDir dir;
  const fs::path run = dir / "run";
  fs::create_directories(train::checkpoint_dir(run));
  CHECK_THAT(bad_input_message([&] { finetune::resolve_base_checkpoint(run.string()); }),
             Catch::Contains("holds no checkpoints"));
  std::ofstream(train::step_checkpoint_path(run, 4)) << "x";
  std::ofstream(train::step_checkpoint_path(run, 12)) << "x";
  CHECK(finetune::resolve_base_checkpoint(run.string()) == train::step_checkpoint_path(run, 12));
  std::ofstream(train::best_checkpoint_path(run)) << "x";
  CHECK(finetune::resolve_base_checkpoint(run.string()) == train::best_checkpoint_path(run));
  const fs::path file = train::step_checkpoint_path(run, 4);
  CHECK(finetune::resolve_base_checkpoint(file.string()) == file);
  std::string missing =
      bad_input_message([&] { finetune::resolve_base_checkpoint((dir / "nope").string()); });
  CHECK_THAT(missing, Catch::Contains("finetune.base"));
  CHECK_THAT(missing, Catch::Contains("does not exist"));
  CHECK_THROWS_AS(finetune::resolve_base_checkpoint((dir / "nope").string()), BadInput);
}
