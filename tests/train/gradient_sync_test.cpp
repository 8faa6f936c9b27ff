// GradientSync on a real Gloo group of two ranks, as two threads of this process on loopback:
// the gradients after finish() are the sum over the ranks of what each accumulated, bucket by
// bucket (tiny buckets, so there are several), including a parameter one rank's loss never
// reaches and a step in which one rank runs no backward at all.
#include <torch/torch.h>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "train/data_parallel.h"
#include "train/gradient_sync.h"

using namespace plinth::train;

namespace {

std::vector<torch::Tensor> make_params() {
  return {torch::linspace(-1, 1, 12).reshape({4, 3}).requires_grad_(),
          torch::linspace(0, 2, 5).requires_grad_(),
          torch::linspace(1, 3, 4).reshape({2, 2}).requires_grad_()};
}

// Micro-batch k of rank r: each rank weighs the parameters differently; rank 1 never uses p[2].
torch::Tensor loss_of(const std::vector<torch::Tensor>& p, int rank, int k) {
  const double c = (rank + 1) * (k + 1);
  torch::Tensor loss = c * (p[0] * p[0]).sum() + (rank + 2.0) * p[1].pow(3).sum();
  if (rank == 0) loss = loss + (k + 0.5) * (p[2] * p[0].narrow(0, 0, 2).narrow(1, 0, 2)).sum();
  return loss;
}

}  // namespace

TEST_CASE("GradientSync sums every trainable gradient over the ranks, bucket by bucket",
          "[train][data-parallel]") {
  // What one process gets: every rank's micro-batches accumulated into one set of gradients.
  std::vector<torch::Tensor> expected = make_params();
  for (int rank = 0; rank < 2; ++rank)
    for (int k = 0; k < 2; ++k) loss_of(expected, rank, k).backward();

  std::vector<torch::Tensor> got[2], idle_step[2];
  size_t buckets = 0;
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  auto rank_main = [&](int rank) {
    DistEnv env;
    env.rank = rank;
    env.world_size = 2;
    env.master_addr = "127.0.0.1";
    env.master_port = port;
    env.timeout_s = 60;
    auto dp = DataParallel::join(env, c10::DeviceType::CPU);
    std::vector<torch::Tensor> p = make_params();
    GradientSync sync(dp, p, /*bucket_bytes=*/16);  // a bucket per parameter or two
    if (rank == 0) buckets = sync.buckets();
    loss_of(p, rank, 0).backward();  // accumulated locally
    sync.arm();                      // the step's last backward: buckets start during it
    loss_of(p, rank, 1).backward();
    sync.finish();
    for (auto& t : p) got[rank].push_back(t.grad().clone());

    // A step where rank 1 runs no backward (its rows scored nothing): its share counts as zero.
    for (auto& t : p) t.mutable_grad() = torch::Tensor();
    if (rank == 0) {
      sync.arm();
      loss_of(p, 0, 0).backward();
    }
    sync.finish();
    for (auto& t : p) idle_step[rank].push_back(t.grad().clone());
  };
  std::thread r0(rank_main, 0), r1(rank_main, 1);
  r0.join();
  r1.join();

  CHECK(buckets == 3);
  std::vector<torch::Tensor> rank0_alone = make_params();
  loss_of(rank0_alone, 0, 0).backward();
  for (int rank = 0; rank < 2; ++rank) {
    REQUIRE(got[rank].size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      INFO("rank " << rank << ", parameter " << i);
      CHECK(torch::allclose(got[rank][i], expected[i].grad(), 1e-6, 1e-6));
      CHECK(torch::allclose(idle_step[rank][i], rank0_alone[i].grad(), 1e-6, 1e-6));
    }
  }
}
