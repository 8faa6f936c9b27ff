#include "train/linear_kl.h"

#include <algorithm>

#include "train/head_gradients.h"

namespace plinth::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows already selected (the masked ones): h (M, C), rh (M, C). The gradient of the KL sum in
// each chunk's logits, p - p_ref, is turned into the gradients of hidden and weight at once.
class LinearKl : public torch::autograd::Function<LinearKl> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& ref_hidden, const torch::Tensor& ref_weight,
                               int64_t compute, int64_t chunk_rows, bool grad_hidden, bool grad_weight) {
    HeadAutocastOff autocast_off;
    torch::NoGradGuard no_grad;
    const auto dtype = static_cast<torch::ScalarType>(compute);
    const torch::Tensor h = hidden.to(dtype), w = weight.to(dtype);            // (M, C), (V, C)
    const torch::Tensor rh = ref_hidden.to(dtype), rw = ref_weight.to(dtype);  // (M, C), (V, C)
    const int64_t m = h.size(0);
    torch::Tensor kl_sum = torch::zeros({}, hidden.options().dtype(torch::kFloat32));
    torch::Tensor grad_h, grad_w;
    if (grad_hidden) grad_h = torch::empty_like(h);  // (M, C)
    for (int64_t start = 0; start < m; start += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, m - start);
      const torch::Tensor h_chunk = h.narrow(0, start, rows);                               // (r, C)
      const torch::Tensor logp = h_chunk.matmul(w.t()).to(torch::kFloat32).log_softmax(1);  // (r, V)
      const torch::Tensor logq = rh.narrow(0, start, rows).matmul(rw.t()).to(torch::kFloat32).log_softmax(1);
      torch::Tensor q = logq.exp();  // (r, V) p_ref
      kl_sum += (q * (logq - logp)).sum();
      if (!grad_hidden && !grad_weight) continue;
      const torch::Tensor g = logp.exp().sub_(q).to(dtype);  // (r, V) d KL / d logits = p - p_ref
      if (grad_hidden) grad_h.narrow(0, start, rows).copy_(g.matmul(w));  // (r, C)
      if (grad_weight) {
        torch::Tensor gw = g.t().matmul(h_chunk);  // (V, C)
        grad_w = grad_w.defined() ? grad_w.add_(gw) : gw.to(torch::kFloat32);
      }
    }
    save_head_gradients(ctx, grad_h, grad_w, hidden.scalar_type(), weight.scalar_type());
    return kl_sum;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    return scaled_head_gradients(ctx, grad_output,
                                 8);  // hidden, weight, the reference's two, compute, chunk_rows, two flags
  }
};

}  // namespace

torch::Tensor linear_kl_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                            const torch::Tensor& ref_hidden, const torch::Tensor& ref_weight,
                            const torch::Tensor& mask, torch::ScalarType compute, int64_t chunk_rows) {
  const int64_t c = hidden.size(-1);
  // The budget of linear_cross_entropy (16 MiB of float32 logits per chunk on the CPU, 256 MiB on
  // CUDA); each chunk here holds a few such tensors of both models.
  const int64_t budget = hidden.is_cuda() ? int64_t{1} << 26 : int64_t{1} << 22;  // elements
  if (chunk_rows <= 0) chunk_rows = std::max<int64_t>(64, budget / std::max<int64_t>(1, weight.size(0)));
  // Only the masked rows: index_select carries the gradient back to their places in hidden.
  const torch::Tensor rows = mask.reshape({-1}).nonzero().squeeze(1);                   // (M) int64
  torch::Tensor h = hidden.reshape({-1, c}).index_select(0, rows);                      // (M, C)
  torch::Tensor rh = ref_hidden.detach().reshape({-1, c}).index_select(0, rows);        // (M, C)
  // M changes every step (how many positions a step distils), and so would the last chunk's
  // (r, V) buffers: the allocator, which keeps freed memory for reuse (util/allocator.h), then
  // rarely fits a new size into an old hole, and the heap grew by ~1.4 GB over 600 bf16 steps.
  // Zero rows pad M to a multiple of kKlRowQuantum, so the buffers take a few sizes. A zero row is
  // exact: both models' logits are all 0 there, the same uniform distribution, KL 0 and gradient 0.
  constexpr int64_t kKlRowQuantum = 64;
  if (const int64_t pad = (kKlRowQuantum - h.size(0) % kKlRowQuantum) % kKlRowQuantum; pad > 0) {
    h = torch::constant_pad_nd(h, {0, 0, 0, pad});  // (M', C): its backward drops the padded rows
    rh = torch::constant_pad_nd(rh, {0, 0, 0, pad});
  }
  const bool grad_mode = torch::GradMode::is_enabled();
  return LinearKl::apply(h, weight, rh, ref_weight.detach(), static_cast<int64_t>(compute), chunk_rows,
                         grad_mode && hidden.requires_grad(), grad_mode && weight.requires_grad());
}

}  // namespace plinth::train
