#include "train/dist_env.h"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

#include "util/error.h"

namespace plinth::train {

namespace {

const char kLauncherHint[] =
    "launch with torchrun (torchrun --nproc-per-node N --no-python plinth pretrain RECIPE) or plinth "
    "launch -n N, which set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT together";

// The variable's value as an integer in [lo, hi]; BadInput otherwise.
int integer(const char* name, const char* value, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
    throw BadInput(
        fmt::format("the environment variable {}={} is not an integer in [{}, {}]", name, value, lo, hi),
        kLauncherHint);
  return static_cast<int>(v);
}

}  // namespace

DistEnv read_dist_env(const std::function<const char*(const char*)>& get_fn) {
  auto get = [&](const char* name) -> const char* {
    const char* v = get_fn ? get_fn(name) : std::getenv(name);
    return v && *v ? v : nullptr;
  };
  DistEnv env;
  const char* rank = get("RANK");
  const char* world = get("WORLD_SIZE");
  const char* local = get("LOCAL_RANK");
  const char* local_world = get("LOCAL_WORLD_SIZE");
  const char* rank_name = "RANK";
  const char* world_name = "WORLD_SIZE";
  const char* local_name = "LOCAL_RANK";
  if (!rank && !world && get("SLURM_PROCID") && get("SLURM_NTASKS") && get("MASTER_ADDR")) {
    rank = get("SLURM_PROCID"), rank_name = "SLURM_PROCID";
    world = get("SLURM_NTASKS"), world_name = "SLURM_NTASKS";
    if (!local && get("SLURM_LOCALID")) local = get("SLURM_LOCALID"), local_name = "SLURM_LOCALID";
    env.launcher = "slurm";
  }
  if (!rank && !world) {
    if (local)
      throw BadInput(fmt::format("LOCAL_RANK={} is set, but RANK and WORLD_SIZE are not", local),
                     kLauncherHint);
    return env;
  }
  if (!world)
    throw BadInput(fmt::format("{}={} is set, but WORLD_SIZE is not", rank_name, rank), kLauncherHint);
  if (!rank)
    throw BadInput(fmt::format("WORLD_SIZE={} is set, but RANK is not: which process is this?", world),
                   kLauncherHint);
  env.world_size = integer(world_name, world, 1, 1 << 20);
  env.rank = integer(rank_name, rank, 0, INT_MAX);
  if (env.rank >= env.world_size)
    throw BadInput(
        fmt::format("{}={} is outside a world of {} processes ({}={}): ranks are 0 to {}", rank_name,
                    env.rank, env.world_size, world_name, env.world_size, env.world_size - 1),
        kLauncherHint);
  env.local_rank = local ? integer(local_name, local, 0, env.world_size - 1) : env.rank;
  env.local_world_size =
      local_world ? integer("LOCAL_WORLD_SIZE", local_world, 1, env.world_size) : env.world_size;
  if (env.local_rank >= env.local_world_size)
    throw BadInput(
        fmt::format("LOCAL_RANK={} is outside LOCAL_WORLD_SIZE={}", env.local_rank, env.local_world_size),
        kLauncherHint);
  if (const char* t = get("PLINTH_DIST_TIMEOUT"))
    env.timeout_s = integer("PLINTH_DIST_TIMEOUT", t, 1, 86400 * 7);
  if (const char* r = get("TORCHELASTIC_RESTART_COUNT"))
    env.restart_count = integer("TORCHELASTIC_RESTART_COUNT", r, 0, INT_MAX);
  if (const char* a = get("PLINTH_DIST_STORE")) env.store_client = std::string(a) == "client";
  if (const char* st = get("PLINTH_DIST_STAGE")) env.stage = st;
  if (env.launcher.empty())
    env.launcher = get("TORCHELASTIC_RUN_ID") ? "torchrun"
                   : get("PLINTH_LAUNCHER")   ? get("PLINTH_LAUNCHER")
                                              : "environment";
  if (!env.distributed()) return env;
  const char* addr = get("MASTER_ADDR");
  const char* port = get("MASTER_PORT");
  if (!addr || !port)
    throw BadInput(
        fmt::format("WORLD_SIZE is {}, but {} not set: the ranks cannot find rank 0", env.world_size,
                    !addr && !port ? "MASTER_ADDR and MASTER_PORT are"
                    : !addr        ? "MASTER_ADDR is"
                                   : "MASTER_PORT is"),
        "set MASTER_ADDR to rank 0's host and MASTER_PORT to a free port on it (torchrun and plinth "
        "launch do), e.g. MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 on one machine");
  env.master_addr = addr;
  env.master_port = integer("MASTER_PORT", port, 1, 65535);
  if (const char* a = get("TORCHELASTIC_USE_AGENT_STORE"); a && std::string(a) == "True") {
    if (env.master_port == 65535)
      throw BadInput("under torchrun plinth's store takes MASTER_PORT + 1, and MASTER_PORT is 65535",
                     "give torchrun another --master-port");
    env.master_port += 1;
  }
  return env;
}

}  // namespace plinth::train
