// Who this process is in a data-parallel job, from the environment the launcher set: torchrun
// (and TorchElastic), `plinth launch`, a cluster scheduler, or a person setting the variables
// by hand. No torch here: `plinth launch` and the tests read it too.
//
//   RANK, WORLD_SIZE           this process's index and the number of processes (both or neither)
//   LOCAL_RANK                 its index on this machine: the CUDA device it takes (default: RANK)
//   LOCAL_WORLD_SIZE           processes on this machine (default: WORLD_SIZE)
//   MASTER_ADDR, MASTER_PORT   where rank 0 hosts the rendezvous store (required when WORLD_SIZE > 1)
//   TORCHELASTIC_RESTART_COUNT how often torchrun restarted the group: keys in the rendezvous store
//                              are per attempt
//   TORCHELASTIC_USE_AGENT_STORE  "True": torchrun's agent hosts its own store at MASTER_PORT,
//                              which may speak another LibTorch's protocol than this plinth's
//                              (a 2.x torchrun, plinth on Debian's 1.13: the client waits forever).
//                              Rank 0 then hosts plinth's store at MASTER_PORT + 1.
//   SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID   read instead of RANK / WORLD_SIZE / LOCAL_RANK
//                              under srun, when RANK is unset and MASTER_ADDR is set (an sbatch
//                              script's own shell also has SLURM_NTASKS: without MASTER_ADDR a
//                              plain `plinth pretrain` there stays one process)
//   PLINTH_DIST_STAGE          set by `plinth run` for its training stages: the stage's own keys in
//                              the store that the pipeline process hosts (PLINTH_DIST_STORE=client)
//   PLINTH_DIST_TIMEOUT        seconds a collective or the rendezvous waits for the other ranks
//                              before this one gives up and names the ranks that did not answer
//                              (default 600; a rank that dies is noticed at once, without it)
#pragma once

#include <functional>
#include <string>

namespace plinth::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;  // 1: one process, no process group
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  int timeout_s = 600;
  int restart_count = 0;      // TORCHELASTIC_RESTART_COUNT
  bool store_client = false;  // PLINTH_DIST_STORE=client: the store is hosted already (plinth run)
  std::string stage;          // PLINTH_DIST_STAGE
  std::string launcher;  // "torchrun", "slurm", "plinth launch" (PLINTH_LAUNCHER), "environment"; "" alone
  bool distributed() const { return world_size > 1; }
};

// Reads the variables above through `get` (getenv by default). BadInput naming the variable and
// the fix when they are inconsistent: WORLD_SIZE without RANK, a rank outside the world, a
// number that is not one, no MASTER_ADDR / MASTER_PORT for a world of more than one.
DistEnv read_dist_env(const std::function<const char*(const char*)>& get = nullptr);

}  // namespace plinth::train
