#include "train/linear_cross_entropy.h"

#include <fmt/format.h>

#include <algorithm>

#include "train/head_gradients.h"
#include "train/softmax_xent_rows.h"
#include "util/error.h"

namespace plinth::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// logits (r, V) contiguous on the CPU, in bf16 or float32; targets (r) int64; scale (r) float32
// or undefined. Returns the per-row losses (r) float32; with a scale, logits now hold the
// gradient (softmax - onehot) * scale. Rows are split across LibTorch's intra-op threads.
torch::Tensor softmax_xent_cpu(torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& scale) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  torch::Tensor loss = torch::empty({rows}, logits.options().dtype(torch::kFloat32));
  const int64_t* t = targets.data_ptr<int64_t>();
  const float* s = scale.defined() ? scale.data_ptr<float>() : nullptr;
  float* l = loss.data_ptr<float>();
  const bool bf16 = logits.scalar_type() == torch::kBFloat16;
  void* base = logits.data_ptr();
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    if (bf16)
      softmax_xent_rows_bf16(static_cast<uint16_t*>(base) + begin * vocab, end - begin, vocab, vocab, t + begin,
                             s ? s + begin : nullptr, l + begin);
    else
      softmax_xent_rows_f32(static_cast<float*>(base) + begin * vocab, end - begin, vocab, vocab, t + begin,
                            s ? s + begin : nullptr, l + begin);
  });
  return loss;
}

// The gradient is computed in the forward pass, chunk by chunk, while each chunk's logits are
// at hand (the loss is a scalar: its gradient is these tensors times the incoming scalar).
// So no chunk's logits are recomputed in the backward: three head matmuls per step instead
// of four, and one softmax pass instead of two. Without grad mode (validation) only the loss
// is computed.
class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t compute, int64_t chunk_rows,
                               bool grad_hidden, bool grad_weight) {
    HeadAutocastOff autocast_off;
    const bool want_grad = grad_hidden || grad_weight;
    const auto dtype = static_cast<torch::ScalarType>(compute);
    const torch::Tensor h = hidden.to(dtype);                      // (N, C)
    const torch::Tensor w = weight.to(dtype);                      // (V, C)
    const torch::Tensor valid = targets.ge(0);                     // (N) bool
    const torch::Tensor count = valid.sum().to(torch::kFloat32);   // ()
    // d mean loss / d logit = (softmax - onehot(target)) / count on valid rows, 0 elsewhere.
    const torch::Tensor row_scale = valid.to(torch::kFloat32) / count;  // (N)
    const int64_t n = h.size(0);
    torch::Tensor loss_sum = torch::zeros({}, hidden.options().dtype(torch::kFloat32));
    torch::Tensor grad_h, grad_w;
    if (grad_hidden) grad_h = torch::empty_like(h);  // (N, C)
    const bool fused = h.is_cpu() && (dtype == torch::kBFloat16 || dtype == torch::kFloat32);
    if (fused && n > 0) {
      const int64_t top = targets.max().item<int64_t>();
      if (top >= w.size(0))
        throw Failure(fmt::format("target token id {} is outside the model's vocabulary of {}", top, w.size(0)));
    }
    for (int64_t start = 0; start < n; start += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, n - start);
      const torch::Tensor h_chunk = h.narrow(0, start, rows);  // (r, C)
      torch::Tensor g = h_chunk.matmul(w.t());                 // (r, V) logits, then their gradient
      if (fused) {
        const torch::Tensor scale = want_grad ? row_scale.narrow(0, start, rows) : torch::Tensor();
        loss_sum += softmax_xent_cpu(g, targets.narrow(0, start, rows).contiguous(), scale).sum();
      } else {
        const torch::Tensor safe_chunk = targets.narrow(0, start, rows).clamp_min(0).unsqueeze(1);  // (r, 1)
        torch::Tensor logp = g.to(torch::kFloat32).log_softmax(1);        // (r, V)
        torch::Tensor picked = logp.gather(1, safe_chunk).squeeze(1);    // (r)
        loss_sum -= picked.masked_fill_(valid.narrow(0, start, rows).logical_not(), 0).sum();
        if (!want_grad) continue;
        torch::Tensor p = logp.exp_();  // (r, V) softmax, in place
        p.scatter_add_(1, safe_chunk, torch::full({rows, 1}, -1.0f, p.options()));
        p.mul_(row_scale.narrow(0, start, rows).unsqueeze(1));
        g = p.to(dtype);
      }
      if (!want_grad) continue;
      if (grad_hidden) grad_h.narrow(0, start, rows).copy_(g.matmul(w));  // (r, C)
      if (grad_weight) {
        torch::Tensor gw = g.t().matmul(h_chunk);  // (V, C)
        grad_w = grad_w.defined() ? grad_w.add_(gw) : gw.to(torch::kFloat32);
      }
    }
    save_head_gradients(ctx, grad_h, grad_w, hidden.scalar_type(), weight.scalar_type());
    return loss_sum / count;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    return scaled_head_gradients(ctx, grad_output,
                                 7);  // hidden, weight, targets, compute, chunk_rows, two flags
  }
};

}  // namespace

torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, torch::ScalarType compute,
                                   int64_t chunk_rows) {
  const int64_t c = hidden.size(-1);
  // Chunk logits of 16 MiB (float32) on the CPU: 512 rows of an 8192 vocabulary measured
  // fastest on 2 cores. GPUs want larger matmuls: 256 MiB.
  const int64_t budget = hidden.is_cuda() ? int64_t{1} << 26 : int64_t{1} << 22;  // elements
  if (chunk_rows <= 0) chunk_rows = std::max<int64_t>(64, budget / std::max<int64_t>(1, weight.size(0)));
  // The gradients are made in the forward (see LinearCrossEntropy), so only those a backward
  // can ask for: none under NoGradGuard (validation), none for a frozen head.
  const bool grad_mode = torch::GradMode::is_enabled();
  return LinearCrossEntropy::apply(hidden.reshape({-1, c}), weight, targets.reshape({-1}),
                                   static_cast<int64_t>(compute), chunk_rows, grad_mode && hidden.requires_grad(),
                                   grad_mode && weight.requires_grad());
}

}  // namespace plinth::train
