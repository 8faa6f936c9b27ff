// Data-parallel training on LibTorch's c10d: the process group of a job launched by torchrun,
// `plinth launch` or a scheduler (dist_env.h), and the collectives the trainer needs.
//
// Rendezvous: rank 0 hosts a c10d::TCPStore at MASTER_ADDR:MASTER_PORT (MASTER_PORT + 1 under
// torchrun, whose agent holds MASTER_PORT), keys prefixed per restart attempt; every rank
// announces itself there, so a rank that never comes is named. Then the backend: Gloo for CPU
// training (TCP between the ranks), NCCL for CUDA, where each rank takes cuda:LOCAL_RANK.
//
// Failure: a rank that dies closes its connections, and the others' next collective fails at
// once; one that hangs makes them time out after PLINTH_DIST_TIMEOUT seconds. Either way every
// survivor throws Failure (exit 1) naming the ranks that did not answer, found through the
// store (rank 0's death takes the store with it, which names rank 0). Nothing is written then:
// the last checkpoint stays the one to resume from.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "train/dist_env.h"
#include "train/train_spec.h"
#include "util/config_node.h"

namespace plinth::train {

class DataParallel {
 public:
  class Pending;  // an all-reduce in flight

  // Joins the job's process group; every rank must call it. device_type: where training runs
  // (resolved train.device): CPU uses Gloo; CUDA uses NCCL on cuda:LOCAL_RANK. BadInput when
  // rank 0's store cannot be reached or not every rank arrives within the timeout (naming
  // the missing ones), when two processes claim one rank, or when CUDA is asked of a LibTorch
  // without NCCL.
  static std::shared_ptr<DataParallel> join(const DistEnv& env, c10::DeviceType device_type);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  const DistEnv& env() const;
  int rank() const { return env().rank; }
  int world_size() const { return env().world_size; }
  bool lead() const { return rank() == 0; }  // the rank that writes checkpoints, logs and reports
  torch::Device device() const;              // cpu, or cuda:LOCAL_RANK
  const std::string& backend() const;        // "gloo" or "nccl"

  // Starts summing `t` over the ranks, in place (t must live on device() and stay untouched
  // until wait(), which returns it summed).
  std::shared_ptr<Pending> start_sum(torch::Tensor t);
  torch::Tensor wait(Pending& p);
  double sum(double v);  // over the ranks
  double max(double v);
  void barrier();

  // Seconds this rank spent blocked in wait(), sum(), max() and barrier(): communication the
  // backward pass did not hide.
  double wait_seconds() const;

 private:
  struct Impl;
  explicit DataParallel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Evaluation shared out by batch (validation_loss, the fine-tune's task loss): rank r of W
// scores the batches b with b mod W == r, then sums its partial sums over the ranks. Without
// data parallelism (dp null) this process scores every batch and the sum is its own.
bool scores_batch(const DataParallel* dp, int64_t batch);
double sum_over_ranks(DataParallel* dp, double partial);

// Messages between the processes of one job that share no process group, on its rendezvous
// store: `plinth run` on rank 0 posts each training stage it starts, and the other ranks' `plinth
// run` start the same. Rank 0 hosts the store for as long as
// this object lives, and its stages join it as clients (PLINTH_DIST_STORE=client).
class JobBoard {
 public:
  explicit JobBoard(const DistEnv& env);  // BadInput as DataParallel::join for an unreachable store
  ~JobBoard();
  JobBoard(const JobBoard&) = delete;
  JobBoard& operator=(const JobBoard&) = delete;

  void post(const std::string& key, const std::string& value);
  // Waits for `key` (no time limit: rank 0 may prepare for hours) and returns its value;
  // Failure naming rank 0 when the store goes away (rank 0 ended without posting it).
  std::string wait_for(const std::string& key);
  bool has(const std::string& key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A training command's start: reads the launcher's environment (dist_env.h). For a world of
// more than one process, checks that train.batch_size (the whole micro-batch) divides among the
// ranks (BadInput pointing into `recipe`, read from `recipe_file`), joins the group on train.device's
// kind of device and says so on rank 0 ("data-parallel: world 2, gloo"); the other ranks then
// print warnings and errors only. Null for one process.
std::shared_ptr<DataParallel> start_data_parallel(const TrainSpec& spec, const ConfigNode& recipe,
                                                  const std::string& recipe_file);

}  // namespace plinth::train
