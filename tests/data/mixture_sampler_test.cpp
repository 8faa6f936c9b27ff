#include <catch2/catch.hpp>
#include <numeric>

#include "data/mixture_sampler.h"
#include "test_support.h"
#include "util/error.h"

using namespace plinth;

namespace {

// A shard whose token i of domain d is d * 100000 + i, so a window tells where it came from.
data::ShardReader make_shard(const test::TempDir& dir, const std::string& name, int domain, int tokens) {
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  std::iota(ids.begin(), ids.end(), domain * 100000);
  auto path = dir / (name + ".bin");
  data::ShardWriter w(path, 4, 1000000, 7);
  w.add_document(ids.data(), ids.size(), ids.size());
  w.commit();
  return data::ShardReader::open(path);
}

}  // namespace

TEST_CASE("the mixture sampler draws domains by weight and windows within shards", "[data][sampler]") {
  test::TempDir dir;
  auto a = make_shard(dir, "a", 0, 5000), b = make_shard(dir, "b", 1, 3000);
  data::DomainMixtureSampler s({{"a", 1.0, &a}, {"b", 3.0, &b}}, 17, 42);
  CHECK(s.probabilities()[1] == Approx(0.75));
  std::vector<int64_t> batch(4000 * 17);
  std::vector<int> rows;
  s.next_batch(4000, batch.data(), &rows);
  size_t from_b = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t* w = batch.data() + r * 17;
    CHECK(w[0] / 100000 == rows[r]);
    CHECK(w[16] - w[0] == 16);  // consecutive tokens of one shard
    from_b += rows[r] == 1;
  }
  CHECK(from_b / 4000.0 == Approx(0.75).margin(0.03));

  SECTION("a restored cursor draws exactly what an uninterrupted run draws") {
    data::DomainMixtureSampler straight({{"a", 1.0, &a}, {"b", 3.0, &b}}, 17, 9);
    std::vector<int64_t> first(10 * 17), second(10 * 17), resumed(10 * 17);
    straight.next_batch(10, first.data());
    uint64_t cursor = straight.cursor();
    straight.next_batch(10, second.data());
    data::DomainMixtureSampler fresh({{"a", 1.0, &a}, {"b", 3.0, &b}}, 17, 9);
    fresh.restore(cursor);
    fresh.next_batch(10, resumed.data());
    CHECK(resumed == second);
    CHECK(first != second);
  }
  SECTION("temperature flattens the mixture") {
    data::DomainMixtureSampler hot({{"a", 1.0, &a}, {"b", 3.0, &b}}, 17, 1, 1e6);
    CHECK(hot.probabilities()[0] == Approx(0.5).margin(1e-3));
  }
  SECTION("zero weights and too-short shards are refused") {
    CHECK_THROWS_AS(data::DomainMixtureSampler({{"a", 0.0, &a}, {"b", 0.0, &b}}, 17, 1), BadInput);
    CHECK_THROWS_WITH(data::DomainMixtureSampler({{"a", 1.0, &a}}, 6000, 1), Catch::Contains("fewer than one window"));
    // A zero-weight domain may be short: it is never drawn.
    data::DomainMixtureSampler ok({{"a", 1.0, &a}, {"b", 0.0, &b}}, 4000, 1);
    std::vector<int64_t> w(4000);
    ok.next_batch(1, w.data());
    CHECK(w[0] / 100000 == 0);
  }
}
