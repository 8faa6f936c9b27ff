#include "train/batch_source.h"

namespace plinth::train {

void MixtureBatches::next(int64_t rows, torch::Tensor& x, torch::Tensor& y) {
  const int64_t window = sampler_.window();
  torch::Tensor windows = torch::empty({rows, window}, torch::kInt64);  // (B, T + 1)
  std::vector<int> domain_of_row;
  sampler_.next_batch(rows, windows.data_ptr<int64_t>(), &domain_of_row);
  for (int d : domain_of_row) note_source(sampler_.domains()[static_cast<size_t>(d)].name);
  // Copies, not views: with one row the narrowed windows already count as contiguous, and
  // .contiguous() would hand out two views of one buffer, so writing y (replay masks targets)
  // would change x.
  x = windows.narrow(1, 0, window - 1).clone(torch::MemoryFormat::Contiguous);  // (B, T)
  y = windows.narrow(1, 1, window - 1).clone(torch::MemoryFormat::Contiguous);  // (B, T)
}

}  // namespace plinth::train
