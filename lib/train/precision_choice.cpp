#include "train/precision_choice.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "model/checkpoint_file.h"
#include "model/llama.h"
#include "train/batch_source.h"
#include "train/data_parallel.h"
#include "train/step_gradients.h"
#include "util/log.h"

namespace plinth::train {

double measured_step_seconds(const model::ModelConfig& config, int64_t rows, const torch::Device& device,
                             bool bf16) {
  // A model's construction draws its weights from the global generator: put it back after,
  // also when the step throws.
  struct GeneratorKept {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    torch::Tensor state;
    GeneratorKept() {
      std::lock_guard<std::mutex> lock(cpu.mutex());
      state = cpu.get_state();
    }
    ~GeneratorKept() {
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu.set_state(state);
    }
  } kept;
  model::Llama net(config);
  net->to(device);
  net->train();
  // Token ids 0, 1, 2, ... wrapped at the vocabulary, every target scored: no random draws.
  const int64_t t = config.context;
  const torch::Tensor ids = torch::arange(rows * (t + 1), torch::kInt64).remainder(config.vocab_size);
  const torch::Tensor w = ids.view({rows, t + 1});  // (rows, T + 1)
  RepeatedBatch batch(w.slice(1, 0, t).contiguous(), w.slice(1, 1).contiguous());
  double best = std::numeric_limits<double>::infinity();
  for (int round = 0; round < 3; ++round) {  // the first warms up (allocations, oneDNN's kernels)
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    const auto t0 = std::chrono::steady_clock::now();
    accumulate_gradients(*net, batch, rows, 1, device, bf16);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (round > 0) best = std::min(best, s);
  }
  return best;
}

PrecisionChoice choose_training_precision(const TrainSpec& spec, const model::ModelConfig& config,
                                          const torch::Device& device,
                                          const std::optional<std::filesystem::path>& resume_from,
                                          DataParallel* dp, const StepTimer& time_step) {
  PrecisionChoice c;
  if (spec.precision) {
    c.precision = *spec.precision;
    c.reason = "train.precision";
    return c;
  }
  if (resume_from) {
    // A checkpoint that cannot be read here is the trainer's to report; then measure.
    try {
      const auto meta = model::read_checkpoint_meta(*resume_from);
      if (auto it = meta.find("precision"); it != meta.end() && parse_precision(it->second)) {
        c.precision = *parse_precision(it->second);
        c.reason = fmt::format("as the run began ({})", resume_from->filename().string());
        return c;
      }
    } catch (const std::exception&) {
    }
  }
  if (device.is_cuda()) {
    c.precision = Precision::bf16;
    c.reason = "CUDA";
    return c;
  }
  const int64_t rows =
      std::clamp<int64_t>(2048 / std::max(1, config.context), 1, std::max<int64_t>(1, spec.batch_size));
  c.fp32_ms = 1e3 * time_step(config, rows, device, false);
  std::string bf16_failure;
  try {
    c.bf16_ms = 1e3 * time_step(config, rows, device, true);
  } catch (const std::exception& e) {  // c10::Error, or oneDNN's own error type
    // Seen on an AVX-512 CPU with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA): LibTorch's own CPU
    // check sends bf16 matmuls to oneDNN, which then has no kernel for them. Training in bf16
    // would fail the same way at its first step.
    c.bf16_ms = std::numeric_limits<double>::infinity();
    const std::string what = e.what();
    bf16_failure = what.substr(0, what.find('\n'));
  }
  double fp32 = c.fp32_ms, bf16 = c.bf16_ms;
  if (dp) {  // every rank gets the same sums, so every rank decides alike
    fp32 = dp->sum(fp32);
    bf16 = dp->sum(bf16);
  }
  c.precision = bf16 < fp32 ? Precision::bf16 : Precision::fp32;
  const char* ranks = dp ? " (this rank; decided on the sums over the ranks)" : "";
  c.reason =
      bf16_failure.empty()
          ? fmt::format("a step of {} x {} tokens took {:.0f} ms in fp32 and {:.0f} ms in bf16 here{}", rows,
                        config.context, c.fp32_ms, c.bf16_ms, ranks)
          : fmt::format("a bf16 step failed here ({}); a step of {} x {} tokens took {:.0f} ms in fp32{}",
                        bf16_failure, rows, config.context, c.fp32_ms, ranks);
  return c;
}

void settle_training_precision(TrainSpec& spec, const model::ModelConfig& config, const torch::Device& device,
                               const std::optional<std::filesystem::path>& resume_from, DataParallel* dp) {
  if (spec.precision) return;
  const PrecisionChoice c = choose_training_precision(spec, config, device, resume_from, dp);
  if (!dp || dp->lead()) log::info("train.precision auto: {} ({})", precision_name(c.precision), c.reason);
  spec.precision = c.precision;
}

}  // namespace plinth::train
