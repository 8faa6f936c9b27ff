// The Trainer as a fine-tuner: frozen parameters stay bit-identical and out of the optimizer,
// regularizers hold the weights near their anchor and show up in metrics.jsonl, a frozen
// fine-tune resumes bit-exactly, checkpoints carry the kind and extra metadata
// (the recipe's finetune: section is tested in tests/finetune/finetune_spec_test.cpp).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <map>

#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
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
