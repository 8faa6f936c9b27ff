#include "model/fused_ops.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "model/norm_gate_rows.h"

namespace plinth::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

uint16_t* bf16_data(const torch::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

bool is_cpu_float_or_bf16(const torch::Tensor& t) {
  return t.is_cpu() && (t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16);
}

// Rows per block of the weight-gradient sums: fixed, so that the sum's order, and with it
// every bit of the result, does not depend on the thread count.
constexpr int64_t kNormBlock = 64;

class RMSNormFunction : public torch::autograd::Function<RMSNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               double eps, int64_t out_dtype) {
    const int64_t dim = x.size(-1);
    const torch::Tensor rows = x.contiguous().view({-1, dim});  // (N, C) float32
    const int64_t n = rows.size(0);
    torch::Tensor y = torch::empty({n, dim}, x.options().dtype(static_cast<torch::ScalarType>(out_dtype)));
    torch::Tensor rstd = torch::empty({n}, x.options());  // (N)
    const torch::Tensor w = weight.contiguous();
    const float* xp = rows.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* rp = rstd.data_ptr<float>();
    const bool bf16 = y.scalar_type() == torch::kBFloat16;
    at::parallel_for(0, n, kNormBlock, [&](int64_t begin, int64_t end) {
      if (bf16)
        rms_norm_rows(xp + begin * dim, wp, end - begin, dim, static_cast<float>(eps), bf16_data(y) + begin * dim,
                      rp + begin);
      else
        rms_norm_rows(xp + begin * dim, wp, end - begin, dim, static_cast<float>(eps),
                      y.data_ptr<float>() + begin * dim, rp + begin);
    });
    ctx->save_for_backward({rows, w, rstd});
    return y.view(x.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& rows = saved[0];  // (N, C)
    const int64_t n = rows.size(0), dim = rows.size(1);
    torch::Tensor dy = grad_output[0].contiguous().view({n, dim});
    if (dy.scalar_type() != torch::kBFloat16) dy = dy.to(torch::kFloat32);
    torch::Tensor dx = torch::empty_like(rows);                                          // (N, C)
    const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
    torch::Tensor partial = torch::zeros({std::max<int64_t>(blocks, 1), dim}, rows.options());  // per block
    const float* xp = rows.data_ptr<float>();
    const float* wp = saved[1].data_ptr<float>();
    const float* rp = saved[2].data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    float* pp = partial.data_ptr<float>();
    const bool bf16 = dy.scalar_type() == torch::kBFloat16;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t begin = b * kNormBlock, count = std::min(kNormBlock, n - begin);
        if (bf16)
          rms_norm_backward_rows(bf16_data(dy) + begin * dim, xp + begin * dim, wp, rp + begin, count, dim,
                                 dxp + begin * dim, pp + b * dim);
        else
          rms_norm_backward_rows(dy.data_ptr<float>() + begin * dim, xp + begin * dim, wp, rp + begin, count, dim,
                                 dxp + begin * dim, pp + b * dim);
      }
    });
    torch::Tensor dw = partial[0].clone();  // (C), blocks summed in order
    float* dwp = dw.data_ptr<float>();
    for (int64_t b = 1; b < blocks; ++b)
      for (int64_t j = 0; j < dim; ++j) dwp[j] += pp[b * dim + j];
    return {dx.view(grad_output[0].sizes()), dw, torch::Tensor(), torch::Tensor()};
  }
};

// Elements per parallel task of the gate; any split gives the same bits (elementwise).
constexpr int64_t kGateGrain = 1 << 14;

class SwiGLUFunction : public torch::autograd::Function<SwiGLUFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    const torch::Tensor g = gate.contiguous(), u = up.contiguous();
    torch::Tensor out = torch::empty_like(g);
    const bool bf16 = g.scalar_type() == torch::kBFloat16;
    at::parallel_for(0, g.numel(), kGateGrain, [&](int64_t begin, int64_t end) {
      if (bf16)
        swiglu(bf16_data(g) + begin, bf16_data(u) + begin, end - begin, bf16_data(out) + begin);
      else
        swiglu(g.data_ptr<float>() + begin, u.data_ptr<float>() + begin, end - begin, out.data_ptr<float>() + begin);
    });
    ctx->save_for_backward({g, u});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &g = saved[0], &u = saved[1];
    const torch::Tensor d = grad_output[0].to(g.scalar_type()).contiguous();
    torch::Tensor dg = torch::empty_like(g), du = torch::empty_like(u);
    const bool bf16 = g.scalar_type() == torch::kBFloat16;
    at::parallel_for(0, g.numel(), kGateGrain, [&](int64_t begin, int64_t end) {
      if (bf16)
        swiglu_backward(bf16_data(d) + begin, bf16_data(g) + begin, bf16_data(u) + begin, end - begin,
                        bf16_data(dg) + begin, bf16_data(du) + begin);
      else
        swiglu_backward(d.data_ptr<float>() + begin, g.data_ptr<float>() + begin, u.data_ptr<float>() + begin,
                        end - begin, dg.data_ptr<float>() + begin, du.data_ptr<float>() + begin);
    });
    return {dg, du};
  }
};

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  // x (B, t, H * hd) -> (B, H, t, hd)
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t heads, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
    const int64_t B = x.size(0), t = x.size(1), hd = x.size(2) / heads;
    const torch::Tensor in = x.contiguous();
    torch::Tensor out = torch::empty({B, heads, t, hd}, x.options());
    rotate(in, heads * hd, out, hd, cos, sin, B, heads, t, hd, false);
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["heads"] = heads;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    const auto saved = ctx->get_saved_variables();
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const torch::Tensor d = grad_output[0].contiguous();  // (B, H, t, hd)
    const int64_t B = d.size(0), t = d.size(2), hd = d.size(3);
    torch::Tensor dx = torch::empty({B, t, heads * hd}, d.options());
    rotate(d, hd, dx, heads * hd, saved[0], saved[1], B, heads, t, hd, true);
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  // Head h of batch b: `in` rows start at (b, h) in its layout, `out` rows in the other;
  // in_stride / out_stride: elements between positions. (B, t, H*hd) rows are H*hd apart and
  // heads hd apart; (B, H, t, hd) rows are hd apart and heads t*hd apart.
  static void rotate(const torch::Tensor& in, int64_t in_stride, torch::Tensor& out, int64_t out_stride,
                     const torch::Tensor& cos, const torch::Tensor& sin, int64_t B, int64_t H, int64_t t, int64_t hd,
                     bool inverse) {
    const bool heads_major_in = in_stride == hd;  // input is (B, H, t, hd)
    const float* c = cos.data_ptr<float>();
    const float* s = sin.data_ptr<float>();
    const bool bf16 = in.scalar_type() == torch::kBFloat16;
    at::parallel_for(0, B * H, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / H, h = p % H;
        const int64_t seq_major = b * t * H * hd + h * hd;  // (b, 0, h, 0) in (B, t, H*hd)
        const int64_t head_major = (b * H + h) * t * hd;    // (b, h, 0, 0) in (B, H, t, hd)
        const int64_t in_at = heads_major_in ? head_major : seq_major;
        const int64_t out_at = heads_major_in ? seq_major : head_major;
        if (bf16)
          rope_rows(bf16_data(in) + in_at, in_stride, c, s, t, hd, inverse, bf16_data(out) + out_at, out_stride);
        else
          rope_rows(in.data_ptr<float>() + in_at, in_stride, c, s, t, hd, inverse, out.data_ptr<float>() + out_at,
                    out_stride);
      }
    });
  }
};

// (..., hd): [a, b] -> [-b, a], the HF / GPT-NeoX RoPE pairing (i, i + hd/2).
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

}  // namespace

torch::Tensor rope_heads(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos, const torch::Tensor& sin) {
  const bool fused = is_cpu_float_or_bf16(x) && x.dim() == 3 && cos.dim() == 2 &&
                     cos.scalar_type() == torch::kFloat32 && sin.scalar_type() == torch::kFloat32 &&
                     cos.is_contiguous() && sin.is_contiguous() && cos.is_cpu() && sin.is_cpu();
  if (fused) return RopeFunction::apply(x, heads, cos, sin);
  const int64_t B = x.size(0), t = x.size(1), hd = x.size(2) / heads;
  auto h = x.view({B, t, heads, hd}).transpose(1, 2);  // (B, H, t, hd)
  return h * cos.to(x.scalar_type()) + rotate_half(h) * sin.to(x.scalar_type());
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                       torch::ScalarType out_dtype) {
  const bool fused = x.is_cpu() && x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
                     (out_dtype == torch::kFloat32 || out_dtype == torch::kBFloat16);
  if (fused) return RMSNormFunction::apply(x, weight, eps, static_cast<int64_t>(out_dtype));
  auto xf = x.to(torch::kFloat32);                                  // (..., C)
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);  // (..., C) float32
  return (normed.to(x.scalar_type()) * weight).to(out_dtype);
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  const bool fused = is_cpu_float_or_bf16(gate) && gate.scalar_type() == up.scalar_type() &&
                     gate.sizes() == up.sizes();
  if (fused) return SwiGLUFunction::apply(gate, up);
  return torch::nn::functional::silu(gate) * up;
}

}  // namespace plinth::model
