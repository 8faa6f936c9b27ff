#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/evaluator.h"
#include "eval_test_support.h"
#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "util/atomic_file.h"

namespace plinth::eval {
namespace {

namespace fs = std::filesystem;
using namespace testing;
using Catch::Matchers::Contains;

struct Fixture {
  test::TempDir dir;
  EvalRequest request;

  Fixture() {
    write_shard(dir / "literature.bin", {make_doc(5, 1), make_doc(20, 2)});
    write_shard(dir / "code.bin", {make_doc(9, 3)});
    request.checkpoint = dir / "run" / "checkpoints" / "step_100.ckpt";
    fs::create_directories(request.checkpoint.parent_path());
    model::Llama m = uniform_model();
    write_model_checkpoint(request.checkpoint, m);
    request.domains = {{"literature", dir / "literature.bin"}, {"code", dir / "code.bin"}};
    request.spec.device = "cpu";
    request.tokenizer_hash = 0x1234;
    request.tokenizer_file = "tokenizers/test.model";
    request.eos_id = kEos;
    request.measure = [](const std::vector<int32_t>& t) {
      return TextSize{t.size(), t.size() > 0 ? 1u : 0u};
    };
  }
};

}  // namespace

TEST_CASE("evaluate_checkpoint scores every domain and writes eval.json and eval.md", "[eval]") {
  Fixture f;
  EvalReport report = evaluate_checkpoint(f.request);
  REQUIRE(report.domains.size() == 2);
  CHECK(report.step == 100);
  CHECK(report.tokenizer_hash == "0000000000001234");
  CHECK(report.options.context == 8);
  CHECK(report.options.device == "cpu");
  CHECK(report.notes.empty());
  CHECK(report.domains[0].name == "literature");
  CHECK(report.domains[0].tokens == 25);
  CHECK(report.domains[1].tokens == 9);
  CHECK(report.domains[0].loss() == Approx(std::log(double(kVocab))).epsilon(1e-6));

  write_eval_report(report, f.dir / "run");
  auto j = nlohmann::json::parse(read_file(f.dir / "run" / "eval.json"));
  CHECK(j["schema"] == 1);
  CHECK(j["checkpoint"] == f.request.checkpoint.string());
  CHECK(j["step"] == 100);
  CHECK(j["model"]["vocab_size"] == kVocab);
  REQUIRE(j["domains"].size() == 2);
  for (const char* key : {"name", "documents", "tokens", "bytes", "words", "loss", "perplexity",
                          "bits_per_byte", "word_perplexity"})
    for (const auto& d : j["domains"]) CHECK(d.contains(key));
  for (const char* key :
       {"loss", "perplexity", "bits_per_byte", "word_perplexity", "tokens", "bytes", "words"})
    CHECK(j["mean"].contains(key));
  CHECK(j["domains"][1]["name"] == "code");
  CHECK(j["domains"][1]["words"] == 1);
  CHECK(j["mean"]["tokens"] == 34);
  CHECK(j["mean"]["loss"].get<double>() == Approx(std::log(double(kVocab))).epsilon(1e-6));
  // Word perplexity: one word per document, so exp(tokens * ln V / documents).
  CHECK(j["domains"][1]["word_perplexity"].get<double>() ==
        Approx(std::pow(double(kVocab), 9.0)).epsilon(1e-4));

  std::string md = read_file(f.dir / "run" / "eval.md");
  CHECK_THAT(md, Contains("| literature |"));
  CHECK_THAT(md, Contains("| code |"));
  CHECK_THAT(md, Contains("**mean**"));
}

TEST_CASE("without a word counter, word perplexity is null", "[eval]") {
  Fixture f;
  f.request.measure = {};
  auto j = nlohmann::json::parse(eval_json(evaluate_checkpoint(f.request)));
  CHECK(j["domains"][0]["words"] == 0);
  CHECK(j["domains"][0]["word_perplexity"].is_null());
  CHECK(j["mean"]["word_perplexity"].is_null());
  CHECK(j["mean"]["bits_per_byte"].is_number());
}

TEST_CASE("a checkpoint trained with another tokenizer is refused, naming both hashes", "[eval]") {
  Fixture f;
  f.request.tokenizer_hash = 0xabcdef;
  try {
    evaluate_checkpoint(f.request);
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    CHECK_THAT(e.what(), Contains("0000000000001234"));
    CHECK_THAT(e.what(), Contains("0000000000abcdef"));
    CHECK_THAT(e.what(), Contains("tokenizers/test.model"));
  }
}

TEST_CASE("a checkpoint of another shape than the recipe's is evaluated with its own, with a note",
          "[eval]") {
  Fixture f;
  model::ModelConfig recipe = tiny_config();
  recipe.vocab_size = 0;  // from the tokenizer: matches any
  f.request.recipe_model = recipe;
  CHECK(evaluate_checkpoint(f.request).notes.empty());
  recipe.dim = 32;
  f.request.recipe_model = recipe;
  EvalReport r = evaluate_checkpoint(f.request);
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], Contains("d16") && Contains("d32"));
  CHECK(r.domains[0].tokens == 25);
}

TEST_CASE("eval.context and eval.max_documents shape the run", "[eval]") {
  Fixture f;
  f.request.spec.context = 4;
  f.request.spec.max_documents = 1;
  EvalReport r = evaluate_checkpoint(f.request);
  CHECK(r.options.context == 4);
  CHECK(r.domains[0].documents == 1);
  CHECK(r.domains[0].tokens == 5);
  f.request.spec.context = 9;
  CHECK_THROWS_AS(evaluate_checkpoint(f.request), BadInput);
}

TEST_CASE("recipe_run_dir reads train.run_dir, default runs/<name>", "[eval]") {
  ConfigNode without = recipe::parse_yaml("data: {}\n", "r.yaml");
  CHECK(recipe_run_dir(without, "quick") == fs::path("runs") / "quick");
  ConfigNode with = recipe::parse_yaml("train:\n  run_dir: out/x\n", "r.yaml");
  CHECK(recipe_run_dir(with, "quick") == fs::path("out/x"));
}

TEST_CASE("the eval: section binds and validates", "[eval]") {
  ConfigNode root = recipe::parse_yaml(
      "eval:\n  max_tokens: 1000\n  batch_size: 2\n  device: cuda:1\n  precision: bf16\n  max_new_tokens: "
      "12\n",
      "r.yaml");
  Diagnostics diag;
  ConfigSection s(root.find("eval"), "eval", diag, Location{"r.yaml"});
  EvalSpec spec;
  bind(s, spec);
  REQUIRE(diag.empty());
  CHECK(spec.max_tokens == 1000);
  CHECK(spec.batch_size == 2);
  CHECK(spec.device == "cuda:1");
  CHECK(spec.precision == Precision::bf16);
  CHECK(spec.max_new_tokens == 12);
  // 0: as long as the longest training completion, whatever the test references' lengths.
  CHECK(EvalSpec{}.max_new_tokens == 0);
  CHECK(answer_budget(EvalSpec{}, 7) == 7);
  CHECK(answer_budget(spec, 7) == 12);

  ConfigNode bad = recipe::parse_yaml(
      "eval:\n  device: gpu\n  precision: fp8\n  batch_size: 0\n  max_tokns: 3\n  max_new_tokens: -1\n",
      "r.yaml");
  Diagnostics bad_diag;
  ConfigSection bs(bad.find("eval"), "eval", bad_diag, Location{"r.yaml"});
  EvalSpec bad_spec;
  bind(bs, bad_spec);
  CHECK(bad_diag.problems().size() == 5);
  const Problem* p = nullptr;
  for (const auto& q : bad_diag.problems())
    if (q.key == "eval.max_new_tokens") p = &q;
  REQUIRE(p != nullptr);
  CHECK(p->where.line == 6);
}

TEST_CASE("the eval: section's sampling keys: fractions in (0, 1), named when wrong", "[eval]") {
  ConfigNode root = recipe::parse_yaml(
      "eval:\n  seed: 7\n  target_ci: 2%\n  confidence: 0.9\n  min_documents: 50\n  max_document_tokens: "
      "512\n"
      "  resamples: 2000\n",
      "r.yaml");
  Diagnostics diag;
  ConfigSection s(root.find("eval"), "eval", diag, Location{"r.yaml"});
  EvalSpec spec;
  bind(s, spec);
  REQUIRE(diag.empty());
  CHECK(spec.seed == 7);
  CHECK(spec.target_ci == Approx(0.02));
  CHECK(spec.confidence == Approx(0.9));
  CHECK(spec.min_documents == 50);
  CHECK(spec.max_document_tokens == 512);
  CHECK(spec.resamples == 2000);

  ConfigNode off = recipe::parse_yaml("eval:\n  target_ci: 0\n", "r.yaml");
  Diagnostics off_diag;
  ConfigSection os(off.find("eval"), "eval", off_diag, Location{"r.yaml"});
  EvalSpec off_spec;
  bind(os, off_spec);
  CHECK(off_diag.empty());
  CHECK(off_spec.target_ci == 0);  // no early stop

  for (const char* bad :
       {"eval:\n  target_ci: 1.5\n", "eval:\n  target_ci: 100%\n", "eval:\n  target_ci: -1%\n",
        "eval:\n  confidence: 0\n", "eval:\n  confidence: 1\n", "eval:\n  confidence: lots\n"}) {
    ConfigNode b = recipe::parse_yaml(bad, "r.yaml");
    Diagnostics d;
    ConfigSection bs(b.find("eval"), "eval", d, Location{"r.yaml"});
    EvalSpec x;
    bind(bs, x);
    INFO(bad);
    REQUIRE(d.problems().size() == 1);
    CHECK_THROWS_WITH(d.throw_if_any(), Catch::Contains("is not a fraction between 0 and 1 (exclusive)") &&
                                            Catch::Contains("r.yaml:2:") &&
                                            Catch::Contains("hint: write e.g."));
  }
}

}  // namespace plinth::eval
