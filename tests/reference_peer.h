// The Python peer tests/reference/ref_llama.py, run by the parity tests: its path, the check that
// Python and torch are there, and one call that runs a mode and returns its JSON result.
// Include after <catch2/catch.hpp> (it uses INFO and REQUIRE).
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "model/model_config.h"
#include "test_support.h"

namespace plinth::test {

inline const char* kReferencePython = "/usr/bin/python3";

// Kept in the tree so that CI on a clean clone has it.
inline std::filesystem::path reference_script() {
  return source_dir() / "tests" / "reference" / "ref_llama.py";
}

inline void require_reference() {
  INFO("the parity tests need " << reference_script().string() << " and " << kReferencePython
                                << " with torch (Debian: apt-get install python3-torch)");
  REQUIRE(std::filesystem::exists(reference_script()));
  auto r = run_command(fmt::format("{} -c 'import torch'", kReferencePython));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// Runs `ref_llama.py MODE` for the model shape `c` with `args` after it, on 2 threads, and
// returns the JSON result: its last line that starts with '{' (torch may warn before it).
inline nlohmann::json run_reference(const std::string& mode, const model::ModelConfig& c,
                                    const std::string& args) {
  const std::string cmd = fmt::format(
      "{} {} {} --vocab {} --dim {} --layers {} --heads {} --kv-heads {} --ffn {} --seq {} --threads 2 {}{}",
      kReferencePython, reference_script().string(), mode, c.vocab_size, c.dim, c.layers, c.heads,
      c.resolved_kv_heads(), c.resolved_ffn(), c.context, args, c.tie_embeddings ? "" : " --no-tie");
  auto r = run_command(cmd);
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  std::string line, last;
  std::istringstream lines(r.output);
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == '{') last = line;
  REQUIRE_FALSE(last.empty());
  return nlohmann::json::parse(last);
}

}  // namespace plinth::test
