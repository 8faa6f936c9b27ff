// Reading a data-parallel launch from the environment: torchrun's variables, SLURM's under srun,
// one process when none are set, and the launches that cannot work (exit 2 naming the variable).
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "train/dist_env.h"
#include "util/error.h"

using plinth::BadInput;
using plinth::train::DistEnv;
using plinth::train::read_dist_env;

namespace {

DistEnv read(const std::map<std::string, std::string>& vars) {
  return read_dist_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string refusal(const std::map<std::string, std::string>& vars) {
  try {
    read(vars);
  } catch (const BadInput& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("no launcher variables: one process", "[train][data-parallel]") {
  const DistEnv env = read({});
  CHECK_FALSE(env.distributed());
  CHECK(env.world_size == 1);
  CHECK(env.rank == 0);
  CHECK(env.launcher.empty());
  // A world of one needs no master.
  CHECK_FALSE(read({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());
}

TEST_CASE("torchrun's variables", "[train][data-parallel]") {
  const DistEnv env = read({{"RANK", "3"},
                            {"WORLD_SIZE", "8"},
                            {"LOCAL_RANK", "1"},
                            {"LOCAL_WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "node0"},
                            {"MASTER_PORT", "29500"},
                            {"TORCHELASTIC_RUN_ID", "job"},
                            {"TORCHELASTIC_RESTART_COUNT", "2"},
                            {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                            {"PLINTH_DIST_TIMEOUT", "30"}});
  CHECK(env.distributed());
  CHECK(env.rank == 3);
  CHECK(env.world_size == 8);
  CHECK(env.local_rank == 1);
  CHECK(env.local_world_size == 2);
  CHECK(env.master_addr == "node0");
  CHECK(env.master_port == 29501);  // torchrun's agent holds 29500
  CHECK(env.restart_count == 2);
  CHECK_FALSE(env.store_client);
  CHECK(env.timeout_s == 30);
  CHECK(env.launcher == "torchrun");
  // Set by hand, without LOCAL_RANK: one machine, the rank is the local rank.
  const DistEnv by_hand =
      read({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
  CHECK(by_hand.local_rank == 1);
  CHECK(by_hand.launcher == "environment");
  CHECK(by_hand.master_port == 29500);
  CHECK(read({{"RANK", "0"},
              {"WORLD_SIZE", "2"},
              {"MASTER_ADDR", "h"},
              {"MASTER_PORT", "1"},
              {"PLINTH_DIST_STORE", "client"}})
            .store_client);
}

TEST_CASE("SLURM's variables under srun, only with MASTER_ADDR set", "[train][data-parallel]") {
  const DistEnv env = read({{"SLURM_PROCID", "5"},
                            {"SLURM_NTASKS", "16"},
                            {"SLURM_LOCALID", "5"},
                            {"MASTER_ADDR", "node0"},
                            {"MASTER_PORT", "29500"}});
  CHECK(env.rank == 5);
  CHECK(env.world_size == 16);
  CHECK(env.local_rank == 5);
  CHECK(env.launcher == "slurm");
  // An sbatch script's own shell: SLURM_NTASKS without MASTER_ADDR stays one process.
  CHECK_FALSE(read({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "16"}}).distributed());
}

TEST_CASE("launches that cannot work are refused, naming the variable", "[train][data-parallel]") {
  const std::string master = "127.0.0.1";
  CHECK_THAT(refusal({{"WORLD_SIZE", "2"}}), Catch::Contains("WORLD_SIZE=2 is set, but RANK is not"));
  CHECK_THAT(refusal({{"RANK", "1"}}), Catch::Contains("RANK=1 is set, but WORLD_SIZE is not"));
  CHECK_THAT(refusal({{"LOCAL_RANK", "0"}}),
             Catch::Contains("LOCAL_RANK=0 is set, but RANK and WORLD_SIZE are not"));
  CHECK_THAT(refusal({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", master}, {"MASTER_PORT", "1"}}),
             Catch::Contains("RANK=2 is outside a world of 2 processes"));
  CHECK_THAT(refusal({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}),
             Catch::Contains("RANK=-1 is not an integer in [0,"));
  CHECK_THAT(refusal({{"RANK", "one"}, {"WORLD_SIZE", "2"}}), Catch::Contains("RANK=one"));
  CHECK_THAT(refusal({{"RANK", "0"}, {"WORLD_SIZE", "0"}}),
             Catch::Contains("WORLD_SIZE=0 is not an integer"));
  CHECK_THAT(refusal({{"RANK", "0"}, {"WORLD_SIZE", "2"}}),
             Catch::Contains("MASTER_ADDR and MASTER_PORT are not set"));
  CHECK_THAT(refusal({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", master}}),
             Catch::Contains("MASTER_PORT is not set"));
  CHECK_THAT(refusal({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", master}, {"MASTER_PORT", "70000"}}),
             Catch::Contains("MASTER_PORT=70000 is not an integer in [1, 65535]"));
  CHECK_THAT(refusal({{"RANK", "0"},
                      {"WORLD_SIZE", "2"},
                      {"LOCAL_RANK", "1"},
                      {"LOCAL_WORLD_SIZE", "1"},
                      {"MASTER_ADDR", master},
                      {"MASTER_PORT", "1"}}),
             Catch::Contains("LOCAL_RANK=1 is outside LOCAL_WORLD_SIZE=1"));
  CHECK_THAT(refusal({{"RANK", "0"},
                      {"WORLD_SIZE", "2"},
                      {"MASTER_ADDR", master},
                      {"MASTER_PORT", "1"},
                      {"PLINTH_DIST_TIMEOUT", "0"}}),
             Catch::Contains("PLINTH_DIST_TIMEOUT=0"));
  // Every refusal says how to launch instead.
  CHECK_THAT(refusal({{"WORLD_SIZE", "2"}}), Catch::Contains("plinth launch -n N"));
}
