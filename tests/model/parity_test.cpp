// Golden test against the Python peer: the same weights (through export_hf) and the same
// tokens must give the same loss in ref_llama.py (PyTorch) and in plinth (LibTorch).

// Torch first: its logging header defines CHECK, and catch.hpp must come after it so that
// CHECK is Catch's assertion, not torch's silent-unless-false check.
#include "model/hf_export.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "reference_peer.h"
#include "test_support.h"

using plinth::model::export_hf;
using plinth::model::Llama;
using plinth::model::ModelConfig;
using plinth::test::run_command;
using plinth::test::TempDir;

namespace fs = std::filesystem;

namespace {

// ref_llama.py's loss mode: windows of seq + 1 tokens stepping by seq, each window's mean
// loss weighted by its number of targets.
double windowed_loss(Llama& model, const std::vector<int64_t>& ids, int seq) {
  torch::NoGradGuard no_grad;
  auto all = torch::tensor(ids, torch::kInt64);  // (N)
  const int64_t n = all.size(0);
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n - 1; i += seq) {
    const int64_t len = std::min<int64_t>(seq + 1, n - i);
    if (len < 2) break;
    auto x = all.narrow(0, i, len);
    auto loss = model->loss(x.narrow(0, 0, len - 1).unsqueeze(0), x.narrow(0, 1, len - 1).unsqueeze(0));
    total += loss.item<double>() * (len - 1);
    count += len - 1;
  }
  return total / count;
}

double reference_loss(const ModelConfig& c, const fs::path& weights, const fs::path& tokens) {
  return plinth::test::run_reference(
             "loss", c, fmt::format("--weights {} --tokens {}", weights.string(), tokens.string()))
      .at("loss")
      .get<double>();
}

}  // namespace

TEST_CASE("plinth's loss equals ref_llama.py's on the same weights and tokens", "[model][parity]") {
  plinth::test::require_reference();
  for (bool tied : {true, false}) {
    CAPTURE(tied);
    ModelConfig c;
    c.vocab_size = 512;
    c.dim = 64;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.ffn = tied ? 0 : 96;
    c.context = 32;
    c.tie_embeddings = tied;
    c.init_std = 0.1;  // larger than the default, so attention and RoPE shape the loss visibly
    torch::manual_seed(tied ? 21 : 22);
    Llama model(c);

    TempDir dir;
    export_hf(model, dir / "hf");
    torch::manual_seed(23);
    auto ids_tensor = torch::randint(0, c.vocab_size, {101}, torch::kInt64);
    std::vector<int64_t> ids(ids_tensor.data_ptr<int64_t>(),
                             ids_tensor.data_ptr<int64_t>() + ids_tensor.numel());
    std::string text;
    for (int64_t id : ids) text += std::to_string(id) + (text.size() % 60 > 50 ? "\n" : " ");
    auto tokens = dir.write("tokens.txt", text);

    const double ours = windowed_loss(model, ids, c.context);
    const double theirs = reference_loss(c, dir / "hf" / "model.safetensors", tokens);
    INFO(fmt::format("plinth {:.8f}, ref_llama.py {:.8f}, |diff| {:.2e}", ours, theirs,
                     std::abs(ours - theirs)));
    CHECK(std::abs(ours - std::log(512.0)) > 0.05);  // the weights matter, not a uniform guess
    CHECK(std::abs(ours - theirs) < 1e-4);
  }
}
