// Torch first: its logging header defines CHECK; catch.hpp must come after it.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>

#include "train/softmax_xent_rows.h"

using namespace plinth;

TEST_CASE("the softmax cross-entropy kernel: loss and gradient as log_softmax gives them", "[train]") {
  torch::manual_seed(8);
  const int64_t rows = 6, vocab = 1003;  // 62 full 16-lane blocks and a tail of 11
  // bf16-exact values, so the bf16 case sees the same numbers
  torch::Tensor logits = (5 * torch::randn({rows, vocab})).to(torch::kBFloat16).to(torch::kFloat32);
  torch::Tensor targets = torch::tensor({0, 17, 1002, -1, 500, 999}, torch::kInt64);
  torch::Tensor scale = torch::full({rows}, 0.25f);
  scale[3] = 0;  // an ignored row

  torch::Tensor logp = logits.log_softmax(1);
  torch::Tensor expected_loss = torch::zeros({rows}), expected_grad = logp.exp() * 0.25;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = targets[i].item<int64_t>();
    if (t < 0) {
      expected_grad[i].zero_();
      continue;
    }
    expected_loss[i] = -logp[i][t];
    expected_grad[i][t] -= 0.25;
  }

  SECTION("float32, in place") {
    torch::Tensor x = logits.clone(), loss = torch::empty({rows});
    train::softmax_xent_rows_f32(x.data_ptr<float>(), rows, vocab, vocab, targets.data_ptr<int64_t>(),
                                 scale.data_ptr<float>(), loss.data_ptr<float>());
    CHECK(torch::allclose(loss, expected_loss, 1e-6, 1e-6));
    CHECK(torch::allclose(x, expected_grad, 1e-5, 1e-8));
  }
  SECTION("bf16 logits: float32 math, the gradient rounded to bf16") {
    torch::Tensor xb = logits.to(torch::kBFloat16), loss = torch::empty({rows});
    train::softmax_xent_rows_bf16(reinterpret_cast<uint16_t*>(xb.data_ptr<at::BFloat16>()), rows, vocab, vocab,
                                  targets.data_ptr<int64_t>(), scale.data_ptr<float>(), loss.data_ptr<float>());
    CHECK(torch::allclose(loss, expected_loss, 1e-6, 1e-6));
    // within one bf16 step (2^-8 relative) of the float32 gradient rounded by torch
    CHECK(torch::allclose(xb.to(torch::kFloat32), expected_grad.to(torch::kBFloat16).to(torch::kFloat32), 4e-3,
                          1e-9));
  }
  SECTION("loss only: the logits stay as they were") {
    torch::Tensor x = logits.clone(), loss = torch::empty({rows});
    train::softmax_xent_rows_f32(x.data_ptr<float>(), rows, vocab, vocab, targets.data_ptr<int64_t>(), nullptr,
                                 loss.data_ptr<float>());
    CHECK(torch::allclose(loss, expected_loss, 1e-6, 1e-6));
    CHECK(torch::equal(x, logits));
  }
}

TEST_CASE("the softmax cross-entropy kernel gives NaN for NaN or infinite logits", "[train]") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    INFO("bad logit " << bad);
    torch::Tensor x = torch::zeros({1, 40});
    x[0][33] = bad;  // in the vector part
    int64_t target = 2;
    float loss = 0;
    train::softmax_xent_rows_f32(x.data_ptr<float>(), 1, 40, 40, &target, nullptr, &loss);
    CHECK(std::isnan(loss));
  }
}
