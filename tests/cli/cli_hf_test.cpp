// A Hugging Face model through the real binary: a folder transformers saved
// (tests/fixtures/hf, with the numbers transformers computed) is scored, imported, continued,
// fine-tuned with LoRA on a task by a pipeline without pretraining, evaluated for forgetting on
// corpora prepared with its own tokenizer (its documents start with BOS), and exported with a
// PEFT adapter.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_fixture.h"

using plinth::test::CliFixture;
using plinth::test::CommandResult;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = plinth::test::source_dir() / "tests/fixtures/hf/llama-gqa-untied-sharded";

nlohmann::json read_json_file(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// stdout of `plinth <args>` as JSON (stderr has the log).
nlohmann::json plinth_json(const CliFixture& f, const std::string& args) {
  const CommandResult r = f.plinth(args + " 2>/dev/null");
  INFO("plinth " << args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.output);
}

double max_difference(const nlohmann::json& a, const nlohmann::json& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i].get<double>() - b[i].get<double>()));
  return worst;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace

TEST_CASE("plinth score, import and generate on a transformers folder give transformers' numbers",
          "[cli][hf]") {
  CliFixture f;
  const nlohmann::json want = read_json_file(kModel / "expected.json");
  const std::string text = quoted(want["text"].get<std::string>());
  for (const std::string& model : {kModel.string(), std::string("m.ckpt")}) {
    if (model == "m.ckpt") {
      const CommandResult r = f.plinth("import " + kModel.string() + " m.ckpt");
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.output, Catch::Contains("peak memory"));
    }
    INFO(model);
    const nlohmann::json got = plinth_json(f, "score --checkpoint " + model + " --text " + text + " --json");
    CHECK(got["tokens"] == want["tokens"]);
    CHECK(max_difference(got["nll"], want["nll"]) < 1e-5);
    const nlohmann::json gen = plinth_json(f, "generate --checkpoint " + model + " --prompt " +
                                                  quoted(want["prompt"].get<std::string>()) +
                                                  " --max-new-tokens 8 --temperature 0 --json");
    CHECK(gen["prompt_ids"] == want["prompt_tokens"]);
    // transformers ran 8 steps whatever came; plinth stops at EOS: the same tokens up to there.
    const auto ours = gen["ids"].get<std::vector<int64_t>>(),
               theirs = want["greedy"].get<std::vector<int64_t>>();
    REQUIRE(!ours.empty());
    CHECK(std::vector<int64_t>(theirs.begin(), theirs.begin() + static_cast<std::ptrdiff_t>(ours.size())) ==
          ours);
  }
}

TEST_CASE(
    "fine-tuning a transformers folder with LoRA through plinth run, and its export with a PEFT adapter",
    "[cli][hf]") {
  CliFixture f;
  fs::copy(
      kModel, f.dir() / "hf",
      fs::copy_options::recursive);  // the recipe's paths are relative; nothing is written into the sources
  std::string data = CliFixture::base_recipe();
  data.replace(data.find("model: tok/small"), std::string("model: tok/small").size(), "model: hf/tokenizer");
  f.recipe(data, "data.yaml");
  f.dir().write("task.tsv", CliFixture::task_tsv());
  f.recipe(
      "include: data.yaml\n"
      "name: ft-hf\n"
      "finetune:\n"
      "  base: hf\n"
      "  method: lora\n"
      "  lora: {rank: 4, alpha: 8, targets: [q_proj, v_proj]}\n"
      "  replay: {fraction: 0.25, source: generated, documents: 12}\n"
      "  distill: {weight: 0.5, on: generated}\n"
      "task:\n"
      "  format: tsv\n"
      "  path: task.tsv\n"
      "  template: \"{prompt} =\"\n"
      "  completion_suffix: \"</s>\"\n"
      "  val_fraction: 0.2\n"
      "  test_fraction: 0.2\n"
      "train: {steps: 4, warmup_steps: 1, batch_size: 4, eval_every: 4, checkpoint_every: 4, lr: 0.01, "
      "precision: fp32, device: cpu}\n"
      "eval: {max_tokens: 512, task_examples: 4, task_samples: 2}\n",
      "ft.yaml");

  // The tokenizer is the model's: training one over it is refused, not done.
  const CommandResult train = f.plinth("tokenizer train data.yaml --threads 1");
  INFO(train.output);
  CHECK(train.exit_code == 2);
  CHECK_THAT(train.output, Catch::Contains("hf/tokenizer.model belongs to the model folder hf"));

  // plinth run without a pretrain: stage: prepare (in the model's tokenizer), finetune, eval.
  f.recipe("name: hf\nfinetune: [ft.yaml]\n", "pipeline.yaml");
  const CommandResult run = f.plinth("run pipeline.yaml --threads 1");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Catch::Contains("1 fine-tune(s) of existing bases"));
  const nlohmann::json report = read_json_file(f.dir() / "runs/ft-hf/report.json");
  CHECK(report["domains"].size() == 2);
  // No pretraining data at hand: the folder's model wrote the replayed documents itself (up to its
  // context less the start token), and the fine-tune distilled to it on them.
  CHECK(report["method"] == "lora+genreplay+distill");
  const nlohmann::json generated = read_json_file(f.dir() / "runs/ft-hf/replay/generated.json");
  CHECK(generated["documents"] == 12);
  CHECK(generated["max_tokens"] == 63);
  CHECK(generated["tokens"].get<int64_t>() > 12);
  CHECK_THAT(run.output, Catch::Contains("generated replay: sampling 12 documents"));
  const CommandResult again = f.plinth("run pipeline.yaml --threads 1");
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("fine-tuned already") && Catch::Contains("report up to date"));

  const CommandResult exported = f.plinth("export runs/ft-hf/tuned.ckpt out");
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  const nlohmann::json adapter = read_json_file(f.dir() / "out/adapter/adapter_config.json");
  CHECK(adapter["base_model_name_or_path"] == "hf");
  CHECK(adapter["r"] == 4);
  CHECK(adapter["target_modules"].size() == 4);  // q and v of two layers
  // The folder's own tokenizer files travel with the export: transformers frames texts the same way.
  nlohmann::json tokenizer_config = read_json_file(kModel / "tokenizer_config.json");
  tokenizer_config["add_bos_token"] = true;  // made explicit: transformers 5 needs it without tokenizer.json
  tokenizer_config["add_eos_token"] = false;
  CHECK(read_json_file(f.dir() / "out/tokenizer_config.json") == tokenizer_config);
  CHECK(read_json_file(f.dir() / "out/special_tokens_map.json")["bos_token"] == "<s>");
  CHECK(read_json_file(f.dir() / "out/generation_config.json")["bos_token_id"] == 1);
  // The merged export scores as the tuned checkpoint does.
  const std::string text = " --text 'Der Hund schläft.' --json";
  CHECK(max_difference(plinth_json(f, "score --checkpoint runs/ft-hf/tuned.ckpt" + text)["nll"],
                       plinth_json(f, "score --checkpoint out" + text)["nll"]) < 1e-5);
}
