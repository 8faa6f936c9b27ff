#include "train/data_parallel.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
// Gloo's headers come from Debian's libgloo-dev for both LibTorch builds (the wheel ships none):
// ProcessGroupGloo only holds pointers to Gloo's types, so their layout never crosses the line.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// NCCL where LibTorch has it (a CUDA wheel) and its headers are here.
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>) && __has_include(<cuda_runtime_api.h>)
#define PLINTH_HAVE_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <thread>

#include "model/device.h"
#include "model/torch_compat.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth::train {

namespace {

using Clock = std::chrono::steady_clock;

// c10::Error's what() carries a C++ backtrace (1.13); people need its first line.
std::string brief(const std::exception& e) {
  std::string s = e.what();
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) s = c->what_without_backtrace();
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// The ranks of `env`'s world, other than this one, without the key "<name>_<rank>" in `store`.
std::vector<int> ranks_without(c10d::Store& store, const char* name, const DistEnv& env) {
  std::vector<int> out;
  for (int k = 0; k < env.world_size; ++k)
    if (k != env.rank && !store.check({fmt::format("{}_{}", name, k)})) out.push_back(k);
  return out;
}

// "rank 1", "ranks 1, 3"
std::string ranks_text(const std::vector<int>& ranks) {
  return fmt::format("rank{} {}", ranks.size() > 1 ? "s" : "", fmt::join(ranks, ", "));
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

struct DataParallel::Pending {
  c10::intrusive_ptr<c10d::Work> work;
  std::vector<torch::Tensor> tensors;  // what the backend sums into
};

struct DataParallel::Impl {
  DistEnv env;
  torch::Device device{torch::kCPU};
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;  // this attempt's keys (a PrefixStore)
  c10::intrusive_ptr<model::C10dBackend> group;
  double waited = 0;

  // Which ranks no longer answer, and the error every survivor ends with (module comment).
  [[noreturn]] void lost(const char* during, const std::exception& e) const {
    std::vector<int> silent;
    bool store_gone = false;
    try {
      store->set(fmt::format("alive_{}", env.rank), std::vector<uint8_t>{'1'});
      const auto until = Clock::now() + std::chrono::seconds(3);  // the other survivors' turn
      for (;;) {
        silent = ranks_without(*store, "alive", env);
        if (silent.empty() || Clock::now() > until) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    } catch (const std::exception&) {
      store_gone = true;
    }
    const std::string who =
        store_gone
            ? fmt::format("rank 0 is gone (it hosts the rendezvous store at {}:{}, which no longer answers)",
                          env.master_addr, env.master_port)
        : silent.empty() ? std::string("every rank still answers the store, so the backend itself failed")
                         : fmt::format("{} did not answer (died or hangs: see {} output)", ranks_text(silent),
                                       silent.size() > 1 ? "their" : "its");
    throw Failure(fmt::format(
        "data-parallel rank {} of {}: the {} failed: {}. This rank stops too, without writing anything; "
        "restart every rank with --resume to continue from the last checkpoint\n  {}: {}",
        env.rank, env.world_size, during, who, backend, brief(e)));
  }

  // Runs a collective; a backend error becomes lost().
  template <class F>
  auto guarded(const char* during, F&& f) {
    const auto start = Clock::now();
    try {
      auto out = f();
      waited += std::chrono::duration<double>(Clock::now() - start).count();
      return out;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      lost(during, e);
    }
  }

  double reduce(double v, c10d::ReduceOp op, const char* during) {
    std::vector<torch::Tensor> t{
        torch::full({1}, v, torch::TensorOptions().dtype(torch::kFloat64).device(device))};
    c10d::AllreduceOptions o;
    o.reduceOp = op;
    return guarded(during, [&] {
      group->allreduce(t, o)->wait();
      return t[0].item<double>();
    });
  }
};

namespace {

// This rank's endpoint for Gloo's TCP pairs: GLOO_SOCKET_IFNAME names the interface (as in
// PyTorch); a loopback master means one machine; otherwise the address this host's name
// resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const DistEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(env.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Store> open_store(const DistEnv& env) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(env.master_port);
  o.isServer = env.rank == 0 && !env.store_client;
  o.numWorkers = static_cast<size_t>(env.world_size);
  o.waitWorkers = false;  // we wait ourselves, to name a rank that does not come
  o.timeout = std::chrono::milliseconds(int64_t{env.timeout_s} * 1000);
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    if (o.isServer)
      throw BadInput(fmt::format("data-parallel rank 0 could not host the rendezvous store on port {}: {}",
                                 env.master_port, brief(e)),
                     "MASTER_PORT must be a free port on rank 0's host: choose another");
    throw BadInput(
        fmt::format("data-parallel rank {} could not reach the rendezvous store at {}:{} within {} s: {}",
                    env.rank, env.master_addr, env.master_port, env.timeout_s, brief(e)),
        "start rank 0 (it hosts the store) and check MASTER_ADDR / MASTER_PORT and that the port is "
        "reachable from here; PLINTH_DIST_TIMEOUT sets how long to wait");
  }
  // Keys per restart attempt and per pipeline stage (plinth run's store outlives its stages).
  return c10::make_intrusive<c10d::PrefixStore>(
      fmt::format("plinth/attempt_{}{}", env.restart_count, env.stage.empty() ? "" : "/" + env.stage), tcp);
}

// Every rank announces itself; returns when all have, BadInput naming the missing ones after
// the timeout, or when a rank is claimed twice.
void gather_ranks(c10d::Store& store, const DistEnv& env) {
  if (store.add(fmt::format("rank_{}", env.rank), 1) > 1)
    throw BadInput(fmt::format("data-parallel: two processes claim RANK={} in one job", env.rank),
                   "give every process its own RANK in 0..WORLD_SIZE-1 (torchrun and plinth launch do)");
  std::vector<std::string> every_rank;
  for (int k = 0; k < env.world_size; ++k) every_rank.push_back(fmt::format("rank_{}", k));
  const auto until = Clock::now() + std::chrono::seconds(env.timeout_s);
  while (!store.check(every_rank)) {
    if (Clock::now() > until) {
      const std::vector<int> missing = ranks_without(store, "rank", env);
      throw BadInput(
          fmt::format("data-parallel: {} of WORLD_SIZE={} did not join within {} s", ranks_text(missing),
                      env.world_size, env.timeout_s),
          "start every rank (WORLD_SIZE is the number of processes in all); PLINTH_DIST_TIMEOUT sets "
          "how long to wait");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

DataParallel::DataParallel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataParallel::~DataParallel() = default;

std::shared_ptr<DataParallel> DataParallel::join(const DistEnv& env, c10::DeviceType device_type) {
  if (!env.distributed()) throw Failure("DataParallel::join: a world of one process has no group");
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  if (device_type == c10::DeviceType::CUDA) {
#if PLINTH_HAVE_NCCL
    impl->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    impl->backend = "nccl";
#else
    throw BadInput("data-parallel training on CUDA needs NCCL, and this plinth's LibTorch has none",
                   "build plinth against a CUDA LibTorch (the PyPI torch wheel), or train on the CPU "
                   "(train.device: cpu, over Gloo)");
#endif
  } else {
    impl->backend = "gloo";
  }
  impl->store = open_store(env);
  gather_ranks(*impl->store, env);
  try {
    if (impl->backend == "gloo") {
      auto o =
          c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(int64_t{env.timeout_s} * 1000));
      o->devices.push_back(gloo_device(env));
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, o);
    } else {
#if PLINTH_HAVE_NCCL
      c10::cuda::set_device(impl->device.index());
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = std::chrono::milliseconds(int64_t{env.timeout_s} * 1000);
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, o);
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    impl->lost("backend's start-up", e);
  }
  auto dp = std::shared_ptr<DataParallel>(new DataParallel(std::move(impl)));
  dp->barrier();  // every rank's backend is up before the first step
  return dp;
}

const DistEnv& DataParallel::env() const {
  return impl_->env;
}

torch::Device DataParallel::device() const {
  return impl_->device;
}

const std::string& DataParallel::backend() const {
  return impl_->backend;
}

std::shared_ptr<DataParallel::Pending> DataParallel::start_sum(torch::Tensor t) {
  auto p = std::make_shared<Pending>();
  p->tensors.push_back(std::move(t));
  p->work = impl_->guarded("gradient all-reduce", [&] { return impl_->group->allreduce(p->tensors); });
  return p;
}

torch::Tensor DataParallel::wait(Pending& p) {
  impl_->guarded("gradient all-reduce", [&] { return p.work->wait(); });
  return p.tensors[0];
}

double DataParallel::sum(double v) {
  return impl_->reduce(v, c10d::ReduceOp::SUM, "loss all-reduce");
}

double DataParallel::max(double v) {
  return impl_->reduce(v, c10d::ReduceOp::MAX, "step agreement");
}

void DataParallel::barrier() {
  impl_->guarded("barrier", [&] { return impl_->group->barrier()->wait(); });
}

double DataParallel::wait_seconds() const {
  return impl_->waited;
}

bool scores_batch(const DataParallel* dp, int64_t batch) {
  return !dp || batch % dp->world_size() == dp->rank();
}

double sum_over_ranks(DataParallel* dp, double partial) {
  return dp ? dp->sum(partial) : partial;
}

struct JobBoard::Impl {
  DistEnv env;
  c10::intrusive_ptr<c10d::Store> store;
};

JobBoard::JobBoard(const DistEnv& env) : impl_(std::make_unique<Impl>()) {
  impl_->env = env;
  impl_->store = open_store(env);
}

JobBoard::~JobBoard() = default;

void JobBoard::post(const std::string& key, const std::string& value) {
  impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

std::string JobBoard::wait_for(const std::string& key) {
  try {
    impl_->store->wait({key}, std::chrono::hours(24 * 365));
    const std::vector<uint8_t> v = impl_->store->get(key);
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    throw Failure(
        fmt::format("data-parallel rank {}: rank 0 is gone (it hosts the rendezvous store at {}:{}, "
                    "which no longer answers)\n  {}",
                    impl_->env.rank, impl_->env.master_addr, impl_->env.master_port, brief(e)));
  }
}

bool JobBoard::has(const std::string& key) {
  try {
    return impl_->store->check({key});
  } catch (const std::exception&) {
    return false;
  }
}

std::shared_ptr<DataParallel> start_data_parallel(const TrainSpec& spec, const ConfigNode& recipe,
                                                  const std::string& recipe_file) {
  const DistEnv env = read_dist_env();
  if (!env.distributed()) return nullptr;
  const ConfigNode* train = recipe.find("train");
  const ConfigNode* batch = train ? train->find("batch_size") : nullptr;
  if (spec.batch_size % env.world_size != 0)
    throw BadInput(
        batch   ? batch->where()
        : train ? train->where()
                : Location{recipe_file},
        "train.batch_size",
        fmt::format("{} rows do not divide among WORLD_SIZE={} ranks: train.batch_size is the whole "
                    "micro-batch of all ranks, each computing on an equal share",
                    spec.batch_size, env.world_size),
        fmt::format(
            "make train.batch_size a multiple of {} (e.g. {}), or run a number of ranks that divides {}",
            env.world_size, (spec.batch_size / env.world_size + 1) * env.world_size, spec.batch_size));
  const torch::Device device = model::resolve_device(spec.device, "train.device");
  auto dp = DataParallel::join(env, device.type());
  if (dp->lead())
    log::info("data-parallel: world {}, {} ({}{}), {} rows per rank per micro-batch", env.world_size,
              dp->backend(), env.launcher,
              env.restart_count ? fmt::format(", restart {}", env.restart_count) : "",
              spec.batch_size / env.world_size);
  else
    log::verbosity() = 0;
  return dp;
}

}  // namespace plinth::train
