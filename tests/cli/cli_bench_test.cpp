// The benchmarks compare equal work: the same text and threads for plinth prepare and
// spm_encode, the same threads and allocator settings for plinth and ref_llama.py. Checked
// from what the commands print and write; no test here looks at a time.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_finetune_fixture.h"
#include "cli_fixture.h"
#include "reference_peer.h"
#include "util/blas_kernel.h"

using plinth::test::CliFixture;
using plinth::test::plinth_binary;
using plinth::test::run_command;
namespace fs = std::filesystem;

namespace {

const std::string kMallopts = "mallopt(M_MMAP_THRESHOLD, 33554432), mallopt(M_TRIM_THRESHOLD, 1073741824)";
const std::string kTunables = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824";

// `plinth args` in the fixture's directory, with `glibc_tunables` as the only GLIBC_TUNABLES.
plinth::test::CommandResult plinth_with_tunables(const CliFixture& f, const std::string& glibc_tunables,
                                                 const std::string& args) {
  return run_command("cd '" + f.dir().path().string() + "' && env -u GLIBC_TUNABLES " +
                     (glibc_tunables.empty() ? "" : "GLIBC_TUNABLES=" + glibc_tunables + " ") + "'" +
                     plinth_binary() + "' " + args);
}

}  // namespace

TEST_CASE("bench prepare: spm_encode at plinth's threads, on slices that hold every line once",
          "[cli][bench]") {
  CliFixture f;
  REQUIRE(f.plinth("tokenizer train recipe.yaml").exit_code == 0);

  auto r = plinth_with_tunables(f, "", "bench prepare recipe.yaml --threads 3 --dry-run --work-dir bench");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(
      r.output,
      Catch::Contains("plinth: prepare, corpora -> shards, data.threads = 1 and 3; allocator: " + kMallopts));
  CHECK_THAT(r.output,
             Catch::Contains("1 process on the whole text and 3 processes at once, one per slice") &&
                 Catch::Contains("allocator: GLIBC_TUNABLES=" + kTunables + "\n"));
  CHECK_FALSE(fs::exists(f.dir() / "bench/shards-1t"));  // a dry run times nothing

  const std::string text = plinth::test::read_file(f.dir() / "bench/corpus.txt");
  REQUIRE(text.size() > 10000);
  std::string joined;
  for (int k = 1; k <= 3; ++k) {
    const fs::path slice = f.dir() / "bench" / ("corpus.slice-" + std::to_string(k) + "-of-3.txt");
    INFO(slice);
    REQUIRE(fs::exists(slice));
    const std::string part = plinth::test::read_file(slice);
    CHECK(part.size() > text.size() / 6);  // about a third each
    CHECK(part.size() < text.size() / 2);
    CHECK(part.back() == '\n');  // cut at a line end
    joined += part;
  }
  CHECK(joined == text);  // no line lost, none twice, the order kept
  CHECK_FALSE(fs::exists(f.dir() / "bench/corpus.slice-4-of-3.txt"));

  SECTION("a real run times both sides at 1 thread and at 2") {
    auto run = f.plinth("bench prepare recipe.yaml --threads 2");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("spm_encode, 2 processes on 2 slices") &&
                               Catch::Contains("plinth prepare, 2 threads") &&
                               Catch::Contains("ratio per thread (1 vs 1)") &&
                               Catch::Contains("ratio all cores (2 vs 2)"));
  }
  SECTION("a missing spm_encode is a failure with a hint") {
    auto run = f.plinth("bench prepare recipe.yaml --threads 2 --spm-encode /no/such/spm_encode");
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.output,
               Catch::Contains("cannot start /no/such/spm_encode") && Catch::Contains("sentencepiece"));
  }
}

TEST_CASE("bench train: the peer runs on plinth's threads with plinth's allocator settings", "[cli][bench]") {
  CliFixture f;
  const std::string shape = "--threads 3 --vocab 256 --dim 64 --layers 1 --heads 2 --seq 32 --batch 2";
  auto r = plinth_with_tunables(f, "", "bench train --dry-run " + shape);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("plinth: 3 threads (at::set_num_threads); allocator: " + kMallopts) &&
                           Catch::Contains("peer:   3 threads (--threads: torch.set_num_threads); allocator: "
                                           "GLIBC_TUNABLES=" +
                                           kTunables));
  CHECK_THAT(r.output, Catch::Contains("peer command: GLIBC_TUNABLES='" + kTunables + "' ") &&
                           Catch::Contains(" --threads 3 ") && Catch::Contains("ref_llama.py' bench "));
  CHECK_THAT(r.output, !Catch::Contains("tokens/s"));  // a dry run times nothing

  SECTION("tunables from the environment reach the peer too, ours after them (so ours win)") {
    auto inherited = plinth_with_tunables(f, "glibc.malloc.arena_max=4", "bench train --dry-run " + shape);
    INFO(inherited.output);
    CHECK_THAT(inherited.output,
               Catch::Contains("peer command: GLIBC_TUNABLES='glibc.malloc.arena_max=4:" + kTunables + "' "));
  }
}

TEST_CASE("bench train: a shape the model cannot take is refused before anything is measured",
          "[cli][bench]") {
  CliFixture f;
  auto r =
      f.plinth("bench train --no-reference --vocab 256 --dim 100 --heads 3 --layers 1 --seq 16 --batch 1");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("heads (3) must divide dim (100)"));
  CHECK_THAT(r.output, !Catch::Contains("matmul peak"));
}

namespace {

// The float32-against-float64 error `plinth bench matmul` prints, or -1 when it prints none.
double matmul_error(const std::string& output) {
  const std::string key = "largest error ";
  const size_t at = output.find(key);
  return at == std::string::npos ? -1 : std::stod(output.substr(at + key.size()));
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "bench matmul: the BLAS kernel switch end to end, a user's OPENBLAS_CORETYPE wins, and each "
    "kernel computes what float64 computes",
    "[cli][bench][blas]") {
  CliFixture f;
  auto run = [&](const std::string& env) {
    return run_command("cd '" + f.dir().path().string() + "' && env -u OPENBLAS_CORETYPE " + env + " '" +
                       plinth_binary() + "' bench matmul --threads 1 --size 256");
  };
  const std::string said = "OpenBLAS chose its Prescott kernel";
  const auto plain = run("");
  INFO(plain.output);
  REQUIRE(plain.exit_code == 0);
  CHECK(matmul_error(plain.output) >= 0);
  CHECK(matmul_error(plain.output) < 1e-5);
  const bool openblas = plain.output.find("BLAS: OpenBLAS") != std::string::npos;

  // What OpenBLAS would do on a CPU it does not know: the switch picks the core for this CPU's
  // vectors, starts plinth again with it, and says so once.
  const auto switched = run("PLINTH_TEST_OPENBLAS_DETECTED=Prescott");
  INFO(switched.output);
  REQUIRE(switched.exit_code == 0);
  const std::string expected = plinth::blas::better_core("Prescott", plinth::blas::cpu_isa());
  if (openblas && !expected.empty()) {
    CHECK(count(switched.output, said) == 1);
    CHECK_THAT(switched.output, Catch::Contains("OPENBLAS_CORETYPE=" + expected) &&
                                    Catch::Contains(", " + expected + " kernel"));
  } else {
    CHECK(count(switched.output, said) == 0);  // not OpenBLAS (the PyPI wheel's MKL), or no AVX here
  }
  CHECK(matmul_error(switched.output) >= 0);
  CHECK(matmul_error(switched.output) < 1e-5);

  // A user's own choice is never overridden, even where the switch would act.
  const auto user = run("OPENBLAS_CORETYPE=Prescott PLINTH_TEST_OPENBLAS_DETECTED=Prescott");
  INFO(user.output);
  REQUIRE(user.exit_code == 0);
  CHECK(count(user.output, said) == 0);
  if (openblas) CHECK_THAT(user.output, Catch::Contains(", Prescott kernel"));
  CHECK(matmul_error(user.output) >= 0);
  CHECK(matmul_error(user.output) < 1e-5);
}

TEST_CASE("bench eval: the peer scores the same windows as plinth, on its threads and allocator settings",
          "[cli][bench]") {
  plinth::test::require_reference();
  plinth::test::FinetuneFixture f;
  f.make_base();
  f.recipe(plinth::test::finetune_recipe("ft", "  method: full\n"), "ft.yaml");
  {
    auto ft = f.plinth("finetune ft.yaml --threads 2");
    INFO(ft.output);
    REQUIRE(ft.exit_code == 0);
  }
  auto dry = plinth_with_tunables(f, "", "bench eval ft.yaml --threads 2 --dry-run");
  INFO(dry.output);
  REQUIRE(dry.exit_code == 0);
  CHECK_THAT(dry.output, Catch::Contains("peer command: GLIBC_TUNABLES='" + kTunables + "' ") &&
                             Catch::Contains("ref_llama.py' pair ") && Catch::Contains(" --threads 2 "));
  CHECK_THAT(dry.output, !Catch::Contains("tokens/s"));  // a dry run times nothing

  auto r = f.plinth("bench eval ft.yaml --threads 2 --tokens 300 --rounds 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const size_t at = r.output.find("same work: ");
  REQUIRE(at != std::string::npos);
  unsigned long long scored = 0, agree = 0, ref_agree = 0;
  double nb = 0, rnb = 0, nt = 0, rnt = 0, kl = 0, rkl = 0;
  REQUIRE(
      std::sscanf(r.output.c_str() + at,
                  "same work: %llu scored tokens each; summed NLL base %lf / %lf, tuned %lf / %lf, KL %lf / "
                  "%lf, top-1 agreement %llu / %llu",
                  &scored, &nb, &rnb, &nt, &rnt, &kl, &rkl, &agree, &ref_agree) == 9);
  // Both domains of the fixture, about 300 tokens each (the document that crosses the ceiling is
  // taken whole), and the peer's sums of the same windows.
  CHECK(scored > 300);
  CHECK(scored < 1000);
  CHECK(nb == Approx(rnb).epsilon(1e-4));
  CHECK(nt == Approx(rnt).epsilon(1e-4));
  CHECK(nb != nt);
  CHECK(kl > 0);  // the fine-tune moved the model: the pair is not one model twice
  CHECK(kl == Approx(rkl).epsilon(1e-3).margin(1e-4 * static_cast<double>(scored)));
  CHECK(std::llabs(static_cast<long long>(agree) - static_cast<long long>(ref_agree)) <= 1 + scored / 100);
  CHECK_THAT(r.output, Catch::Contains("ratio plinth / ref_llama.py: ") && Catch::Contains("% of peak"));

  // Another shape than the checkpoints': random models of it, the same windows, the same sums.
  auto shaped =
      f.plinth("bench eval ft.yaml --threads 2 --tokens 100 --rounds 1 --dim 64 --layers 2 --heads 2");
  INFO(shaped.output);
  REQUIRE(shaped.exit_code == 0);
  CHECK_THAT(shaped.output, Catch::Contains("base random and tuned random: d64 L2 H2 "));
  const size_t same = shaped.output.find("same work: ");
  REQUIRE(same != std::string::npos);
  REQUIRE(std::sscanf(shaped.output.c_str() + same,
                      "same work: %llu scored tokens each; summed NLL base %lf / %lf", &scored, &nb,
                      &rnb) == 3);
  CHECK(nb == Approx(rnb).epsilon(1e-4));
}
