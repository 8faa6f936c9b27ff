// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include <torch/torch.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train_fixture.h"
#include "util/error.h"
#include "util/hash.h"

using namespace plinth;
using test::bad_input_message;
namespace fs = std::filesystem;

namespace {

std::set<std::string> file_names(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

model::CheckpointContents sample_contents() {
  model::CheckpointContents c;
  c.meta["step"] = "12";
  c.meta["recipe"] = "name: x\nlist: [a, \"b\"]\n";
  c.tensors.emplace_back("model/w", torch::randn({3, 5}));
  c.tensors.emplace_back("model/half", torch::randn({7}).to(torch::kBFloat16));
  c.tensors.emplace_back("optim/0/step", torch::tensor(int64_t{42}));
  c.tensors.emplace_back("rng/cpu", torch::arange(10, torch::kUInt8));
  c.tensors.emplace_back("empty", torch::zeros({0, 4}));
  return c;
}

void corrupt_byte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("checkpoint file round trip", "[train]") {
  test::TempDir dir;
  auto c = sample_contents();
  model::write_checkpoint(dir / "a.ckpt", c);
  auto r = model::read_checkpoint(dir / "a.ckpt");
  CHECK(r.meta == c.meta);
  REQUIRE(r.tensors.size() == c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    CHECK(r.tensors[i].first == c.tensors[i].first);
    CHECK(r.tensors[i].second.scalar_type() == c.tensors[i].second.scalar_type());
    CHECK(torch::equal(r.tensors[i].second, c.tensors[i].second));
  }
  REQUIRE(r.find("optim/0/step"));
  CHECK(r.find("optim/0/step")->item<int64_t>() == 42);
  CHECK(r.find("missing") == nullptr);
  CHECK_THROWS_AS(r.meta_or_throw("tokenizer_hash", dir / "a.ckpt"), BadInput);
  // No temporary file is left beside it.
  CHECK(file_names(dir.path()) == std::set<std::string>{"a.ckpt"});
}

TEST_CASE("damaged checkpoint files are refused as bad input", "[train]") {
  test::TempDir dir;
  const fs::path file = dir / "a.ckpt";
  model::write_checkpoint(file, sample_contents());
  const auto size = fs::file_size(file);

  SECTION("truncated") {
    fs::resize_file(file, size - 9);
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(file); }), Catch::Contains("truncated"));
    fs::resize_file(file, 30);
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(file); }), Catch::Contains("damaged"));
  }
  SECTION("a flipped byte in the data") {
    corrupt_byte(file, size - 20);
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(file); }), Catch::Contains("checksum"));
  }
  SECTION("a flipped byte in the header") {
    corrupt_byte(file, 40);
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(file); }), Catch::Contains("damaged"));
  }
  SECTION("not a checkpoint, or missing") {
    auto other = dir.write("x.ckpt", "name: not a checkpoint at all, just some text\n");
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(other); }),
               Catch::Contains("not a plinth checkpoint"));
    CHECK_THAT(bad_input_message([&] { model::read_checkpoint(dir / "none.ckpt"); }),
               Catch::Contains("does not exist"));
  }
}

TEST_CASE("model config survives the JSON in a checkpoint", "[train]") {
  model::ModelConfig c;
  c.vocab_size = 1000;
  c.dim = 96;
  c.heads = 6;
  c.kv_heads = 2;
  c.layers = 3;
  c.context = 77;
  c.tie_embeddings = false;
  c.rope_theta = 5e5;
  model::ModelConfig r = model::model_config_from_json(model::model_config_json(c), "x.ckpt");
  CHECK(r.vocab_size == 1000);
  CHECK(r.dim == 96);
  CHECK(r.heads == 6);
  CHECK(r.kv_heads == 2);
  CHECK(r.layers == 3);
  CHECK(r.ffn == c.resolved_ffn());
  CHECK(r.context == 77);
  CHECK_FALSE(r.tie_embeddings);
  CHECK(r.rope_theta == 5e5);
  CHECK_THROWS_AS(model::model_config_from_json("{\"dim\": 3}", "x.ckpt"), BadInput);
  CHECK_THROWS_AS(model::model_config_from_json("not json", "x.ckpt"), BadInput);
}

TEST_CASE("a trainer checkpoint holds weights, optimizer state and run state", "[train]") {
  test::TinyRun run;
  run.spec.steps = 4;
  run.trainer()->run();
  const fs::path file = train::step_checkpoint_path(run.spec.run_dir, 4);
  auto c = model::read_checkpoint(file);
  CHECK(c.meta.at("step") == "4");
  CHECK(c.meta.at("tokenizer_hash") == hex64(test::TinyRun::kTokenizerHash));
  CHECK(c.meta.at("sampler_cursor") == std::to_string(4 * run.spec.batch_size));
  CHECK(c.meta.at("recipe") == "name: tiny\n");
  CHECK(model::model_config_from_json(c.meta.at("model_config"), file).dim == run.config.dim);
  CHECK(c.find("model/model.embed_tokens.weight"));
  CHECK(c.find("model/model.layers.1.mlp.down_proj.weight"));
  CHECK(c.find("optim/0/exp_avg"));
  CHECK(c.find("optim/0/exp_avg_sq"));
  CHECK(c.find("optim/0/step")->item<int64_t>() == 4);
  CHECK(c.find("rng/cpu"));
}

TEST_CASE("resume refuses another tokenizer or model shape, naming the difference", "[train]") {
  test::TinyRun run;
  run.spec.steps = 4;
  run.trainer()->run();
  const fs::path file = train::step_checkpoint_path(run.spec.run_dir, 4);

  SECTION("tokenizer") {
    auto t = run.trainer(nullptr, 0x1111);
    std::string msg = bad_input_message([&] { t->resume(file); });
    CHECK_THAT(msg, Catch::Contains("another tokenizer"));
    CHECK_THAT(msg, Catch::Contains(hex64(0x1111)));
  }
  SECTION("shape") {
    run.config.dim = 48;
    run.config.layers = 3;
    auto t = run.trainer();
    std::string msg = bad_input_message([&] { t->resume(file); });
    CHECK_THAT(msg, Catch::Contains("model.dim 32 (checkpoint) vs 48 (recipe)"));
    CHECK_THAT(msg, Catch::Contains("model.layers 2 (checkpoint) vs 3 (recipe)"));
  }
  SECTION("a fresh start in a run directory that holds checkpoints") {
    auto t = run.trainer();
    CHECK_THAT(bad_input_message([&] { t->run(); }), Catch::Contains("--resume"));
  }
  SECTION("nothing to resume") {
    CHECK_FALSE(train::latest_checkpoint(run.dir / "elsewhere").has_value());
    CHECK(*train::latest_checkpoint(run.spec.run_dir) == file);
  }
}

TEST_CASE("keep_last and keep_best decide which checkpoint files stay", "[train]") {
  test::TinyRun run;
  run.spec.steps = 10;
  run.spec.checkpoint_every = 2;
  run.spec.eval_every = 2;
  run.spec.keep_last = 2;
  const fs::path dir = train::checkpoint_dir(run.spec.run_dir);

  SECTION("keep_best") {
    auto result = run.trainer()->run();
    REQUIRE(fs::exists(dir / "best.ckpt"));
    CHECK(result.best_checkpoint == dir / "best.ckpt");
    auto best = model::read_checkpoint(dir / "best.ckpt");
    const int64_t best_step = std::stoll(best.meta.at("step"));
    CHECK(best.meta.at("best_step") == best.meta.at("step"));
    std::set<std::string> expected{"best.ckpt", "step-000008.ckpt", "step-000010.ckpt",
                                   fmt::format("step-{:06}.ckpt", best_step)};
    CHECK(file_names(dir) == expected);
    // best.ckpt is the very file of its step.
    CHECK(hash_file(dir / "best.ckpt") ==
          hash_file(train::step_checkpoint_path(run.spec.run_dir, best_step)));
  }
  SECTION("without keep_best only the newest remain") {
    run.spec.keep_best = false;
    run.trainer()->run();
    CHECK(file_names(dir) == std::set<std::string>{"step-000008.ckpt", "step-000010.ckpt"});
  }
  SECTION("keep_last 0 keeps every checkpoint") {
    run.spec.keep_last = 0;
    run.spec.keep_best = false;
    run.trainer()->run();
    CHECK(file_names(dir).size() == 5);
  }
}

TEST_CASE("prune never deletes the protected checkpoint", "[train]") {
  test::TempDir dir;
  for (int s : {1, 2, 3, 4, 5}) dir.write(fmt::format("checkpoints/step-{:06}.ckpt", s), "x");
  dir.write("checkpoints/step-000006.ckpt.tmp.123", "partial");
  train::prune_checkpoints(dir.path(), 2, 2);
  CHECK(file_names(dir / "checkpoints") == std::set<std::string>{"step-000002.ckpt", "step-000004.ckpt",
                                                                 "step-000005.ckpt",
                                                                 "step-000006.ckpt.tmp.123"});
  CHECK(train::latest_checkpoint(dir.path())->filename() == "step-000005.ckpt");
}

TEST_CASE("latest_checkpoint: the highest step-N.ckpt, never a Fisher file or another checkpoint",
          "[train]") {
  test::TempDir dir;
  CHECK_FALSE(train::latest_checkpoint(dir.path()).has_value());
  dir.write("checkpoints/step-000900.ckpt", "x");
  dir.write("checkpoints/step-001200.ckpt", "x");
  dir.write("checkpoints/step-000300.ckpt", "x");
  // Not model checkpoints of this run, whatever number they carry.
  dir.write("checkpoints/step-001200.fisher.ckpt", "x");
  dir.write("checkpoints/best.fisher.ckpt", "x");
  dir.write("checkpoints/step_99999.ckpt", "x");
  dir.write("checkpoints/step-002000.ckpt.tmp.7", "partial");
  CHECK(train::latest_checkpoint(dir.path())->filename() == "step-001200.ckpt");
}
