#include "train/training_checkpoint.h"

#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "train/checkpoint_files.h"
#include "train/fused_adamw.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth::train {

void add_optimizer_state(model::CheckpointContents& c, const NamedParameters& params,
                         const torch::optim::AdamW& optim) {
  const auto& state = optim.state();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(optimizer_state_key(state, params[i].second));
    if (it == state.end()) continue;  // no step taken yet, or frozen
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    c.tensors.emplace_back(fmt::format("optim/{}/exp_avg", i), s.exp_avg().to(torch::kCPU));
    c.tensors.emplace_back(fmt::format("optim/{}/exp_avg_sq", i), s.exp_avg_sq().to(torch::kCPU));
    c.tensors.emplace_back(fmt::format("optim/{}/step", i), torch::tensor(s.step(), torch::kInt64));
  }
}

void restore_optimizer_state(const model::CheckpointContents& c, const std::filesystem::path& file,
                             const NamedParameters& params, torch::optim::AdamW& optim) {
  auto& state = optim.state();
  state.clear();
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor* m = c.find(fmt::format("optim/{}/exp_avg", i));
    const torch::Tensor* v = c.find(fmt::format("optim/{}/exp_avg_sq", i));
    const torch::Tensor* n = c.find(fmt::format("optim/{}/step", i));
    const torch::Tensor& p = params[i].second;
    if ((!m && !v && !n) || !p.requires_grad()) continue;
    if (!m || !v || !n || m->sizes() != p.sizes() || v->sizes() != p.sizes())
      throw BadInput(
          fmt::format("checkpoint {}: the optimizer state of {} is incomplete or has another shape",
                      file.string(), params[i].first),
          "use another checkpoint");
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(n->item<int64_t>());
    s->exp_avg(m->to(p.options()).clone());
    s->exp_avg_sq(v->to(p.options()).clone());
    state[optimizer_state_key(state, p)] = std::move(s);
  }
}

void add_generator_states(model::CheckpointContents& c, const torch::Device& device) {
  {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(cpu.mutex());
    c.tensors.emplace_back("rng/cpu", cpu.get_state());
  }
  if (device.is_cuda()) {
    at::Generator cuda = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(cuda.mutex());
    c.tensors.emplace_back("rng/cuda", cuda.get_state());
  }
}

void restore_generator_states(const model::CheckpointContents& c, const torch::Device& device) {
  if (const torch::Tensor* g = c.find("rng/cpu")) {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(cpu.mutex());
    cpu.set_state(*g);
  }
  if (const torch::Tensor* g = c.find("rng/cuda"); g && device.is_cuda()) {
    at::Generator cuda = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(cuda.mutex());
    cuda.set_state(*g);
  }
}

namespace {

BadInput nothing_to_resume(const std::filesystem::path& run_dir, const std::string& command) {
  return BadInput(fmt::format("--resume: {} holds no checkpoint to resume", checkpoint_dir(run_dir).string()),
                  "start the run without --resume" + (command.empty() ? "" : ": " + command));
}

}  // namespace

std::filesystem::path checkpoint_to_resume(const std::filesystem::path& run_dir, const std::string& command) {
  if (auto latest = latest_checkpoint(run_dir)) return *latest;
  throw nothing_to_resume(run_dir, command);
}

std::filesystem::path restore_newest_readable(
    const std::filesystem::path& run_dir, bool lead,
    const std::function<void(const std::filesystem::path&)>& restore) {
  auto steps = list_step_checkpoints(run_dir);
  if (steps.empty()) throw nothing_to_resume(run_dir, "");
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    try {
      restore(it->second);
      return it->second;
    } catch (const model::DamagedCheckpoint& e) {
      std::filesystem::path aside = it->second;
      aside += ".damaged";
      std::error_code ec;
      if (lead) std::filesystem::rename(it->second, aside, ec);
      log::warn("{}\n  set aside as {}; {}", e.what(), aside.string(),
                std::next(it) == steps.rend()
                    ? "no older checkpoint is left"
                    : "resuming from the one before it, " + std::next(it)->second.string());
    }
  }
  throw BadInput(fmt::format("--resume: every checkpoint in {} is damaged (set aside as *.damaged)",
                             checkpoint_dir(run_dir).string()),
                 "start the run again without --resume in a new train.run_dir");
}

}  // namespace plinth::train
