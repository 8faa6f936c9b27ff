// The Trainer as a fine-tuner: frozen parameters stay bit-identical and out of the optimizer,
// regularizers hold the weights near their anchor and show up in metrics.jsonl, a frozen
// fine-tune resumes bit-exactly, checkpoints carry the kind and extra metadata. Also the
// recipe's finetune: section and where a base checkpoint is found.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>

#include "model/checkpoint_file.h"
#include "recipe/recipe_loader.h"
#include "train/checkpoint_files.h"
#include "train/finetune_spec.h"
#include "train/metrics_log.h"
#include "train/regularizers.h"
#include "train_fixture.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

const char* kEmbed = "model.embed_tokens.weight";

std::map<std::string, torch::Tensor> snapshot(model::Llama& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : m->named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

// sqrt(sum over parameters of ||now - before||^2)
double distance(model::Llama& m, const std::map<std::string, torch::Tensor>& before) {
  double sum = 0;
  for (const auto& item : m->named_parameters())
    sum += (item.value().detach() - before.at(item.key())).square().sum().item<double>();
  return std::sqrt(sum);
}

std::string bad_input_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.what();
  }
  return "(no BadInput)";
}

void freeze_embedding(model::Llama& m, train::TrainerOptions&) {
  m->named_parameters().find(kEmbed)->requires_grad_(false);
}

}  // namespace

TEST_CASE("a frozen embedding stays bit-identical while the rest trains", "[train][finetune]") {
  test::TinyRun run;
  run.spec.eval_every = 0;
  run.prepare = [](model::Llama& m, train::TrainerOptions& o) {
    freeze_embedding(m, o);
    o.checkpoint_kind = "plinth-finetune";
    o.extra_meta["base_checkpoint"] = "runs/base/checkpoints/best.ckpt";
  };
  model::Llama m{nullptr};
  auto trainer = run.trainer(&m);
  const auto before = snapshot(m);
  // The optimizer holds every parameter but the embedding.
  size_t in_optimizer = 0;
  for (const auto& g : trainer->optimizer().param_groups())
    for (const auto& p : g.params()) {
      CHECK_FALSE(p.is_same(*m->named_parameters().find(kEmbed)));
      ++in_optimizer;
    }
  CHECK(in_optimizer == m->named_parameters().size() - 1);

  auto result = trainer->run();
  REQUIRE(result.end_step == 8);
  for (const auto& item : m->named_parameters()) {
    INFO(item.key());
    if (item.key() == kEmbed)
      CHECK(torch::equal(item.value(), before.at(item.key())));
    else
      CHECK_FALSE(torch::equal(item.value(), before.at(item.key())));
  }
  CHECK(std::isfinite(result.last_loss));
  CHECK(result.last_penalty == 0.0);

  // The checkpoint holds every weight (the frozen one too) but optimizer state only for the rest,
  // under the indices of the full parameter list.
  auto c = model::read_checkpoint(result.last_checkpoint);
  CHECK(c.meta.at("kind") == "plinth-finetune");
  CHECK(c.meta.at("base_checkpoint") == "runs/base/checkpoints/best.ckpt");
  REQUIRE(c.find(std::string("model/") + kEmbed));
  CHECK(torch::equal(*c.find(std::string("model/") + kEmbed), before.at(kEmbed)));
  int64_t embed_index = -1, i = 0;
  for (const auto& item : m->named_parameters()) {
    if (item.key() == kEmbed) embed_index = i;
    ++i;
  }
  REQUIRE(embed_index >= 0);
  CHECK_FALSE(c.find(fmt::format("optim/{}/exp_avg", embed_index)));
  CHECK(c.find(fmt::format("optim/{}/exp_avg", embed_index + 1)));

  SECTION("resuming it as another kind of run is refused") {
    test::TinyRun other;
    auto pretrain = other.trainer();
    try {
      pretrain->resume(result.last_checkpoint);
      FAIL("no BadInput");
    } catch (const BadInput& e) {
      CHECK_THAT(e.what(), Catch::Contains("plinth-finetune run"));
    }
  }
}

TEST_CASE("a fine-tune with frozen parameters and L2-SP resumes bit-exactly", "[train][finetune]") {
  auto prepare = [](model::Llama& m, train::TrainerOptions& o) {
    freeze_embedding(m, o);
    o.checkpoint_kind = "plinth-finetune";
    o.regularizers.push_back(train::make_l2sp(*m, 0.1));
  };
  test::TinyRun straight, split;
  straight.prepare = split.prepare = prepare;
  model::Llama straight_model{nullptr};
  auto a = straight.trainer(&straight_model)->run();

  split.after_step = [](int64_t step, double) {
    if (step == 4) std::raise(SIGINT);
  };
  REQUIRE(split.trainer()->run().end_step == 4);
  split.after_step = nullptr;
  model::Llama resumed_model{nullptr};
  auto second = split.trainer(&resumed_model);
  second->resume(*train::latest_checkpoint(split.spec.run_dir));
  auto b = second->run();
  CHECK(b.end_step == 8);
  CHECK(b.last_loss == a.last_loss);
  CHECK(b.last_penalty == a.last_penalty);
  CHECK(a.last_penalty > 0);
  auto pa = straight_model->named_parameters(), pb = resumed_model->named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].key());
    CHECK(torch::equal(pa[i].value(), pb[i].value()));
  }
}

TEST_CASE("a strong L2-SP pull keeps the weights nearer their anchor", "[train][finetune]") {
  auto moved = [](double alpha, double* penalty_logged) {
    test::TinyRun run;
    run.spec.eval_every = 0;
    run.spec.weight_decay = 0;  // decay would pull toward zero in both runs
    std::map<std::string, torch::Tensor> anchor;
    run.prepare = [&](model::Llama& m, train::TrainerOptions& o) {
      anchor = snapshot(m);
      if (alpha > 0) o.regularizers.push_back(train::make_l2sp(*m, alpha));
    };
    model::Llama m{nullptr};
    auto result = run.trainer(&m)->run();
    auto records = train::read_metrics(fs::path(run.spec.run_dir) / "metrics.jsonl");
    REQUIRE(!records.empty());
    *penalty_logged = records.back().penalty;
    CHECK(std::isfinite(result.last_loss));
    return distance(m, anchor);
  };
  double free_penalty = 0, held_penalty = 0;
  const double free = moved(0, &free_penalty), held = moved(1e4, &held_penalty);
  INFO("free " << free << ", held " << held);
  CHECK(held < 0.5 * free);
  CHECK(std::isnan(free_penalty));  // no regularizer, no "penalty" field
  CHECK(held_penalty > 0);
}

TEST_CASE("EWC as a trainer regularizer: logged and finite", "[train][finetune]") {
  test::TinyRun run;
  run.spec.eval_every = 0;
  run.spec.steps = 3;
  run.spec.warmup_steps = 1;
  run.prepare = [](model::Llama& m, train::TrainerOptions& o) {
    train::FisherDiagonal f;
    for (const auto& item : m->named_parameters()) f.values[item.key()] = torch::ones_like(item.value());
    o.regularizers.push_back(train::make_ewc(f, *m, 10.0));
  };
  auto result = run.trainer()->run();
  CHECK(result.last_penalty > 0);
  std::ifstream in(fs::path(run.spec.run_dir) / "metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  CHECK_THAT(last, Catch::Contains("\"penalty\":"));
}

TEST_CASE("a model with every parameter frozen is refused", "[train][finetune]") {
  test::TinyRun run;
  run.prepare = [](model::Llama& m, train::TrainerOptions&) {
    for (auto& p : m->parameters()) p.requires_grad_(false);
  };
  CHECK_THROWS_WITH(run.trainer(), Catch::Contains("nothing to train"));
  CHECK_THROWS_AS(run.trainer(), BadInput);
}

namespace {

// Binds `finetune:` from YAML text; returns the problems' text ("" when valid).
std::string bind_errors(const std::string& yaml, train::FinetuneSpec& spec) {
  ConfigNode root = recipe::parse_yaml(yaml, "recipe.yaml");
  Diagnostics diag;
  ConfigSection s(root.find("finetune"), "finetune", diag, Location{"recipe.yaml"});
  train::bind(s, spec);
  std::string text;
  for (const auto& p : diag.problems()) text += p.str() + "\n";
  return text;
}

}  // namespace

TEST_CASE("the finetune section binds, with defaults", "[train][finetune]") {
  train::FinetuneSpec spec;
  SECTION("the least there is: a base") {
    CHECK(bind_errors("finetune:\n  base: runs/quickstart\n", spec) == "");
    CHECK(spec.base == "runs/quickstart");
    CHECK(spec.method == "full");
    CHECK(spec.lora.rank == 8);
    CHECK(spec.lora.targets == std::vector<std::string>{"q_proj", "v_proj"});
    CHECK(spec.ewc.fisher_sequences == 128);
    CHECK(spec.distill.weight == 0.0);
    CHECK(spec.distill.on == "task");
    CHECK(train::method_label(spec) == "full");
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
    CHECK(train::method_label(spec) == "full+freeze+replay+ewc+l2sp+distill");
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
    CHECK(train::method_label(spec) == "lora+replay");
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
    CHECK(train::method_label(spec) == "full+genreplay+distill");
  }
}

TEST_CASE("the finetune section reports every mistake", "[train][finetune]") {
  train::FinetuneSpec spec;
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
    train::FinetuneSpec fresh;
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
    train::FinetuneSpec data_replay;
    CHECK_THAT(bind_errors(
                   "finetune:\n  base: b\n  replay: {fraction: 0.2}\n  distill: {weight: 1, on: generated}\n",
                   data_replay),
               Catch::Contains("finetune.distill.on: distillation on generated rows"));
    train::FinetuneSpec fresh;
    CHECK_THAT(
        bind_errors("finetune:\n  base: b\n  method: lora\n  distill: {weight: 1, on: replay}\n", fresh),
        Catch::Contains("finetune.distill.on: distillation on replayed rows, but replay is off") &&
            Catch::Contains("replay.fraction"));
    train::FinetuneSpec lora;
    CHECK(bind_errors("finetune:\n  base: b\n  method: lora\n  distill: {weight: 2}\n", lora) == "");
    CHECK(train::method_label(lora) == "lora+distill");
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
    train::FinetuneSpec zero_top_p;
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay: {fraction: 0.2, source: generated, top_p: 0}\n",
                           zero_top_p),
               Catch::Contains("finetune.replay.top_p"));
    train::FinetuneSpec data;
    CHECK_THAT(
        bind_errors("finetune:\n  base: b\n  replay: {fraction: 0.2, documents: 10}\n", data),
        Catch::Contains("finetune.replay.documents: is a setting of generated replay, but source is data"));
    train::FinetuneSpec off;
    CHECK_THAT(bind_errors("finetune:\n  base: b\n  replay: {source: generated}\n", off),
               Catch::Contains("finetune.replay.source: generated replay, but fraction is 0"));
    train::FinetuneSpec unknown;
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

TEST_CASE("finetune.base: a run directory's best, else latest, checkpoint, or a file", "[train][finetune]") {
  test::TempDir dir;
  const fs::path run = dir / "run";
  fs::create_directories(train::checkpoint_dir(run));
  CHECK_THAT(bad_input_message([&] { train::resolve_base_checkpoint(run.string()); }),
             Catch::Contains("holds no checkpoints"));
  std::ofstream(train::step_checkpoint_path(run, 4)) << "x";
  std::ofstream(train::step_checkpoint_path(run, 12)) << "x";
  CHECK(train::resolve_base_checkpoint(run.string()) == train::step_checkpoint_path(run, 12));
  std::ofstream(train::best_checkpoint_path(run)) << "x";
  CHECK(train::resolve_base_checkpoint(run.string()) == train::best_checkpoint_path(run));
  const fs::path file = train::step_checkpoint_path(run, 4);
  CHECK(train::resolve_base_checkpoint(file.string()) == file);
  std::string missing = bad_input_message([&] { train::resolve_base_checkpoint((dir / "nope").string()); });
  CHECK_THAT(missing, Catch::Contains("finetune.base"));
  CHECK_THAT(missing, Catch::Contains("does not exist"));
  CHECK_THROWS_AS(train::resolve_base_checkpoint((dir / "nope").string()), BadInput);
}
