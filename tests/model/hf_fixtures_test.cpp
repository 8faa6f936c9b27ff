// plinth against what transformers and PEFT computed: tests/fixtures/hf holds small random
// Llama models transformers saved (MHA and GQA, tied and untied, one file and shards, fp32 and
// bf16), a LoRA adapter PEFT saved, and each one's tokens, next-token NLLs and greedy tokens as
// those libraries gave them (scripts/hf/make_fixtures.py; scripts/check-hf runs the libraries
// themselves). CI has no transformers: these files are its witness.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/checkpoint_model.h"
#include "model/generation.h"
#include "model/hf_import.h"
#include "model/hf_peft.h"
#include "model/lora.h"
#include "model/token_nll.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

using namespace plinth::model;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
  return plinth::test::source_dir() / "tests" / "fixtures" / "hf";
}

nlohmann::json expected(const fs::path& dir) {
  std::ifstream in(dir / "expected.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::vector<int64_t> with_start(const plinth::tokenizer::Tokenizer& tok, const std::string& text) {
  std::vector<int64_t> ids = {tok.document_start_id()};
  for (int32_t id : tok.encode(text)) ids.push_back(id);
  return ids;
}

void check_nll(const std::vector<double>& ours, const nlohmann::json& theirs) {
  REQUIRE(ours.size() == theirs.size());
  double worst = 0;
  for (size_t i = 0; i < ours.size(); ++i)
    worst = std::max(worst, std::abs(ours[i] - theirs[i].get<double>()));
  INFO("largest difference " << worst);
  CHECK(worst < 1e-5);
}

}  // namespace

TEST_CASE("transformers' Llama folders: plinth reads the same tokens, NLLs and greedy tokens",
          "[model][hf]") {
  for (const char* name : {"llama-mha-untied-fp32", "llama-gqa-tied-fp32", "llama-gqa-untied-bf16",
                           "llama-gqa-untied-sharded"}) {
    INFO(name);
    const fs::path dir = fixtures() / name;
    const nlohmann::json want = expected(dir);
    const CheckpointContents ckpt = read_model_checkpoint(dir);
    Llama model = model_from_checkpoint(ckpt, dir);
    const auto tok = plinth::tokenizer::Tokenizer::load(dir / "tokenizer.model");

    // The text framed as transformers' tokenizer frames it: BOS, then the pieces.
    const std::vector<int64_t> tokens = with_start(tok, want["text"].get<std::string>());
    CHECK(tokens == want["tokens"].get<std::vector<int64_t>>());
    check_nll(token_nll(*model, tokens), want["nll"]);

    const std::vector<int64_t> prompt = with_start(tok, want["prompt"].get<std::string>());
    CHECK(prompt == want["prompt_tokens"].get<std::vector<int64_t>>());
    GenerateOptions greedy;
    greedy.temperature = 0;
    greedy.max_new_tokens = static_cast<int>(want["greedy"].size());
    CHECK(generate(model, prompt, greedy) == want["greedy"].get<std::vector<int64_t>>());
  }
}

TEST_CASE("PEFT's LoRA adapter: plinth reads it and computes what PEFT did, and writes it back the same",
          "[model][hf][lora]") {
  const fs::path dir = fixtures() / "peft-lora";
  const nlohmann::json want = expected(dir);
  const fs::path base = dir / want["base"].get<std::string>();
  Llama model = model_from_checkpoint(read_model_checkpoint(base), base);
  model->eval();
  const PeftAdapter adapter = read_peft_adapter(dir);
  attach_lora(*model, peft_lora_options(adapter), 1);
  load_lora_parameters(*model, adapter.tensors, (dir / "adapter_model.safetensors").string());
  const auto tok = plinth::tokenizer::Tokenizer::load(base / "tokenizer.model");
  const std::vector<int64_t> tokens = with_start(tok, want["text"].get<std::string>());
  CHECK(tokens == want["tokens"].get<std::vector<int64_t>>());
  check_nll(token_nll(*model, tokens), want["nll"]);

  // Merged, as plinth's tuned.ckpt holds it: the same numbers.
  {
    torch::NoGradGuard no_grad;
    merge_lora(*model);
  }
  check_nll(token_nll(*model, tokens), want["nll"]);

  // plinth's writer gives PEFT's names and numbers back.
  plinth::test::TempDir out;
  write_peft_adapter(adapter, out / "adapter");
  const auto theirs = read_safetensors(dir / "adapter_model.safetensors");
  const auto ours = read_safetensors(out / "adapter" / "adapter_model.safetensors");
  REQUIRE(ours.size() == theirs.size());
  for (const auto& [name, t] : theirs) {
    INFO(name);
    REQUIRE(ours.count(name) == 1);
    CHECK(torch::equal(ours.at(name), t.to(torch::kFloat32)));
  }
}
