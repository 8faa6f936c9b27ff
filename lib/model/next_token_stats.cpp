#include "model/next_token_stats.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <functional>

#include "model/autocast_guard.h"
#include "model/next_token_rows.h"

namespace plinth::model {

namespace {

// Rows per chunk: both models' logits of a chunk (2 x rows x V float32) in about 8 MiB, and at
// least 64 rows so the head's matmul stays efficient.
int64_t chunk_rows(int64_t vocab) {
  return std::max<int64_t>(64, (int64_t{1} << 20) / std::max<int64_t>(1, vocab));
}

// The fused pass over rows [0, rows) of each model's logits chunk, split over the threads.
void fused_rows(const torch::Tensor& lb, const torch::Tensor& lt, const int64_t* targets, float* nll_b,
                float* nll_t, float* kl, uint8_t* agree) {
  const int64_t rows = lb.size(0), vocab = lb.size(1), stride = lb.stride(0);
  const bool two = lt.defined();
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    if (lb.scalar_type() == torch::kBFloat16) {
      auto row = [&](const torch::Tensor& l) {
        return reinterpret_cast<const uint16_t*>(l.data_ptr<at::BFloat16>()) + begin * stride;
      };
      next_token_rows_bf16(row(lb), two ? row(lt) : nullptr, n, vocab, stride, targets + begin, nll_b + begin,
                           two ? nll_t + begin : nullptr, two ? kl + begin : nullptr,
                           two ? agree + begin : nullptr);
    } else {
      auto row = [&](const torch::Tensor& l) { return l.data_ptr<float>() + begin * stride; };
      next_token_rows_f32(row(lb), two ? row(lt) : nullptr, n, vocab, stride, targets + begin, nll_b + begin,
                          two ? nll_t + begin : nullptr, two ? kl + begin : nullptr,
                          two ? agree + begin : nullptr);
    }
  });
}

// The same figures with ATen ops (a CUDA model's path).
void aten_rows(const torch::Tensor& lb, const torch::Tensor& lt, const torch::Tensor& targets,
               NextTokenStats& out, int64_t start) {
  const int64_t rows = lb.size(0);
  const torch::Tensor logp_b = lb.to(torch::kFloat32).log_softmax(-1);  // (r, V)
  const torch::Tensor tgt = targets.to(lb.device()).unsqueeze(1);       // (r, 1)
  out.nll_base.narrow(0, start, rows).copy_(-logp_b.gather(1, tgt).squeeze(1));
  if (!lt.defined()) return;
  const torch::Tensor logp_t = lt.to(torch::kFloat32).log_softmax(-1);  // (r, V)
  out.nll_tuned.narrow(0, start, rows).copy_(-logp_t.gather(1, tgt).squeeze(1));
  out.kl.narrow(0, start, rows).copy_((logp_b.exp() * (logp_b - logp_t)).sum(-1));
  out.agree.narrow(0, start, rows).copy_(logp_b.argmax(-1).eq(logp_t.argmax(-1)));
}

}  // namespace

NextTokenStats next_token_stats(const torch::Tensor& base_hidden, const torch::Tensor& base_weight,
                                const torch::Tensor& tuned_hidden, const torch::Tensor& tuned_weight,
                                const torch::Tensor& targets, torch::ScalarType compute) {
  const bool two = tuned_hidden.defined();
  const int64_t n = base_hidden.size(0), vocab = base_weight.size(0);
  const torch::Tensor tgt = targets.to(torch::kCPU, torch::kInt64).contiguous();  // (N)
  NextTokenStats out;
  auto column = [&](torch::ScalarType t) { return torch::empty({n}, torch::TensorOptions().dtype(t)); };
  out.nll_base = column(torch::kFloat32);
  if (two) {
    out.nll_tuned = column(torch::kFloat32);
    out.kl = column(torch::kFloat32);
    out.agree = column(torch::kUInt8);
  }
  if (n == 0) return out;
  const bool cpu = base_hidden.device().is_cpu();
  const torch::Tensor hb = base_hidden.to(compute), wb = base_weight.to(compute);
  const torch::Tensor ht = two ? tuned_hidden.to(compute) : torch::Tensor();
  const torch::Tensor wt = two ? tuned_weight.to(compute) : torch::Tensor();
  const int64_t chunk = chunk_rows(vocab);
  // One logits buffer per model, reused by every chunk: fresh (rows, V) tensors were most of the
  // kernel time of an evaluation (page faults of big allocations).
  torch::Tensor lb = torch::empty({std::min(chunk, n), vocab}, hb.options());
  torch::Tensor lt = two ? torch::empty_like(lb) : torch::Tensor();
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t rows = std::min(chunk, n - start);
    torch::Tensor cb = lb.narrow(0, 0, rows), ct = two ? lt.narrow(0, 0, rows) : torch::Tensor();
    at::mm_out(cb, hb.narrow(0, start, rows), wb.t());  // (r, V)
    if (two) at::mm_out(ct, ht.narrow(0, start, rows), wt.t());
    if (cpu) {
      fused_rows(cb, ct, tgt.data_ptr<int64_t>() + start, out.nll_base.data_ptr<float>() + start,
                 two ? out.nll_tuned.data_ptr<float>() + start : nullptr,
                 two ? out.kl.data_ptr<float>() + start : nullptr,
                 two ? out.agree.data_ptr<uint8_t>() + start : nullptr);
    } else {
      aten_rows(cb, ct, tgt.narrow(0, start, rows), out, start);
    }
  }
  return out;
}

namespace {

// The figures of the scored positions (N) (flat indices into (B, T), on the CPU) with targets (N):
// `forward` gives a model's final hidden states (B, T, C) on `device`; it alone runs under
// autocast, the softmaxes and sums never do.
NextTokenStats stats_at(LlamaImpl& base, LlamaImpl* tuned,
                        const std::function<torch::Tensor(LlamaImpl&)>& forward,
                        const torch::Tensor& positions, const torch::Tensor& targets,
                        const torch::Device& device, bool autocast_bf16) {
  const torch::Tensor on_device = positions.to(device);
  auto hidden = [&](LlamaImpl& m) {  // (N, C)
    AutocastGuard autocast(device.type(), torch::kBFloat16, autocast_bf16);
    const torch::Tensor h = forward(m);  // (B, T, C)
    return h.reshape({-1, h.size(-1)}).index_select(0, on_device);
  };
  const bool bf16_head = autocast_bf16 || base.lm_head_weight().scalar_type() == torch::kBFloat16;
  const torch::Tensor hb = hidden(base), ht = tuned ? hidden(*tuned) : torch::Tensor();
  return next_token_stats(hb, base.lm_head_weight(), ht, tuned ? tuned->lm_head_weight() : torch::Tensor(),
                          targets, bf16_head ? torch::kBFloat16 : torch::kFloat32);
}

}  // namespace

ScoredStats scored_next_token_stats(LlamaImpl& base, LlamaImpl* tuned, const torch::Tensor& x,
                                    const torch::Tensor& targets, bool autocast_bf16) {
  const torch::Tensor flat = targets.to(torch::kCPU, torch::kInt64).reshape({-1});  // (B*T)
  ScoredStats out;
  out.positions = flat.ge(0).nonzero().squeeze(1);  // (N)
  out.stats = stats_at(
      base, tuned, [&](LlamaImpl& m) { return m.hidden_states(x); }, out.positions,
      flat.index_select(0, out.positions), x.device(), autocast_bf16);
  return out;
}

NextTokenStats packed_next_token_stats(LlamaImpl& base, LlamaImpl* tuned, const torch::Tensor& x,
                                       const PackedLayout& layout, const torch::Tensor& positions,
                                       const torch::Tensor& targets, bool autocast_bf16) {
  return stats_at(
      base, tuned, [&](LlamaImpl& m) { return m.hidden_states(x, layout); },
      positions.to(torch::kCPU, torch::kInt64), targets, x.device(), autocast_bf16);
}

std::vector<double> row_sums(const ScoredStats& s, const torch::Tensor& column, int64_t rows, int64_t cols) {
  std::vector<double> sums(static_cast<size_t>(rows), 0.0);
  const int64_t* at = s.positions.data_ptr<int64_t>();
  const float* v = column.data_ptr<float>();
  for (int64_t i = 0, n = s.positions.size(0); i < n; ++i) sums[static_cast<size_t>(at[i] / cols)] += v[i];
  return sums;
}

}  // namespace plinth::model
