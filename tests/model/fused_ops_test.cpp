// Torch first: its logging header defines CHECK; catch.hpp must come after it.
#include "model/fused_ops.h"

#include <catch2/catch.hpp>

#include "model/norm_gate_rows.h"

using namespace plinth;

namespace {

// The same math in ATen ops, as the model had it before the kernels.
torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * w;
}

struct Result {
  torch::Tensor out, dx, dw;
};

// dim 40: two full 16-lane blocks and a scalar tail of 8.
Result run_norm(bool fused, torch::ScalarType out_dtype) {
  torch::manual_seed(11);
  torch::Tensor x = (3 * torch::randn({3, 5, 40})).requires_grad_();
  torch::Tensor w = (1 + 0.2 * torch::randn({40})).requires_grad_();
  torch::Tensor g = torch::randn({3, 5, 40});
  torch::Tensor y = fused ? model::rms_norm(x, w, 1e-5, out_dtype) : rms_norm_reference(x, w, 1e-5).to(out_dtype);
  (y.to(torch::kFloat32) * g).sum().backward();
  return {y.to(torch::kFloat32).detach(), x.grad(), w.grad()};
}

}  // namespace

TEST_CASE("the fused RMSNorm matches the ATen composite, forward and backward", "[model]") {
  const Result ref = run_norm(false, torch::kFloat32), got = run_norm(true, torch::kFloat32);
  CHECK(torch::allclose(got.out, ref.out, 1e-5, 1e-6));
  CHECK(torch::allclose(got.dx, ref.dx, 1e-4, 1e-5));
  CHECK(torch::allclose(got.dw, ref.dw, 1e-4, 1e-5));

  SECTION("bf16 output: the float32 result rounded once") {
    const Result bf = run_norm(true, torch::kBFloat16);
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(bf.out, got.out.to(torch::kBFloat16).to(torch::kFloat32)));
    CHECK(torch::allclose(bf.dx, ref.dx, 2e-2, 1e-2));
    CHECK(torch::allclose(bf.dw, ref.dw, 2e-2, 1e-2));
  }
}

TEST_CASE("the fused RMSNorm's weight gradient has the same bits on 1 and 2 threads", "[model]") {
  const int threads = at::get_num_threads();
  auto dw_with = [](int n) {
    at::set_num_threads(n);
    torch::manual_seed(2);
    torch::Tensor x = torch::randn({1000, 48});
    torch::Tensor w = torch::ones({48}).requires_grad_();
    model::rms_norm(x, w, 1e-6, torch::kFloat32).pow(2).sum().backward();
    return w.grad();
  };
  const torch::Tensor one = dw_with(1), two = dw_with(2);
  at::set_num_threads(threads);
  CHECK(torch::equal(one, two));
}

TEST_CASE("the fused SwiGLU gate matches silu(gate) * up, forward and backward", "[model]") {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    INFO("dtype " << dtype);
    torch::manual_seed(4);
    // 1000 elements: not a multiple of 16; values up to +-30 reach the sigmoid's flat ends.
    torch::Tensor base_g = 6 * torch::randn({10, 100}), base_u = torch::randn({10, 100});
    base_g[0][0] = 30;
    base_g[0][1] = -30;
    torch::Tensor d = torch::randn({10, 100}).to(dtype);
    auto grads = [&](bool fused) {
      torch::Tensor g = base_g.to(dtype).requires_grad_(), u = base_u.to(dtype).requires_grad_();
      torch::Tensor y = fused ? model::swiglu(g, u) : torch::silu(g.to(torch::kFloat32)) * u.to(torch::kFloat32);
      (y.to(torch::kFloat32) * d.to(torch::kFloat32)).sum().backward();
      return std::vector<torch::Tensor>{y.to(torch::kFloat32).detach(), g.grad().to(torch::kFloat32),
                                        u.grad().to(torch::kFloat32)};
    };
    const auto ref = grads(false), got = grads(true);
    const double rtol = dtype == torch::kFloat32 ? 1e-5 : 1e-2, atol = dtype == torch::kFloat32 ? 1e-6 : 1e-2;
    CHECK(got[0].scalar_type() == torch::kFloat32);
    CHECK(torch::allclose(got[0], ref[0], rtol, atol));
    CHECK(torch::allclose(got[1], ref[1], rtol, atol));
    CHECK(torch::allclose(got[2], ref[2], rtol, atol));
  }
}

TEST_CASE("the kernels' bf16 rounding is c10::BFloat16's (nearest even, NaN kept)", "[model]") {
  torch::manual_seed(9);
  torch::Tensor g = torch::randn({4096}) * 100;
  g[0] = std::numeric_limits<float>::quiet_NaN();
  torch::Tensor up = torch::ones({4096});
  // swiglu in float32 then rounded by torch, against the kernel writing bf16 itself from the
  // same float32 values (bf16 inputs, so the float32 math sees the same numbers).
  torch::Tensor gb = g.to(torch::kBFloat16), ub = up.to(torch::kBFloat16);
  torch::Tensor by_kernel = model::swiglu(gb, ub);
  torch::Tensor by_torch = model::swiglu(gb.to(torch::kFloat32), ub.to(torch::kFloat32)).to(torch::kBFloat16);
  CHECK(std::isnan(by_kernel[0].item<float>()));
  CHECK(torch::equal(by_kernel.narrow(0, 1, 4095), by_torch.narrow(0, 1, 4095)));
}

TEST_CASE("the fused rotary embedding matches split + transpose + rotate-half, forward and backward", "[model]") {
  const int64_t B = 2, t = 5, H = 3, hd = 40;  // half 20: one 16-lane block and a tail of 4
  torch::manual_seed(13);
  torch::Tensor angles = torch::outer(torch::arange(t, torch::kFloat32), torch::rand({hd / 2}));
  torch::Tensor cos = torch::cat({angles, angles}, -1).cos(), sin = torch::cat({angles, angles}, -1).sin();
  torch::Tensor base = torch::randn({B, t, H * hd}), d = torch::randn({B, H, t, hd});
  auto composite = [&](const torch::Tensor& x) {
    auto h = x.view({B, t, H, hd}).transpose(1, 2);  // (B, H, t, hd)
    auto halves = h.chunk(2, -1);
    return h * cos + torch::cat({-halves[1], halves[0]}, -1) * sin;
  };
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    INFO("dtype " << dtype);
    torch::Tensor x1 = base.to(dtype).clone().requires_grad_(), x2 = base.to(dtype).clone().requires_grad_();
    torch::Tensor got = model::rope_heads(x1, H, cos, sin);
    torch::Tensor want = composite(x2.to(torch::kFloat32));
    CHECK(got.sizes() == want.sizes());
    CHECK(got.scalar_type() == dtype);
    (got.to(torch::kFloat32) * d).sum().backward();
    (want * d).sum().backward();
    const double tol = dtype == torch::kFloat32 ? 1e-6 : 1e-2;
    CHECK(torch::allclose(got.to(torch::kFloat32), want, tol, tol));
    CHECK(torch::allclose(x1.grad().to(torch::kFloat32), x2.grad().to(torch::kFloat32), tol, tol));
  }
}
