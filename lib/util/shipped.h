// Where an installed plinth keeps what it ships: the recipes and tokenizers of the source tree,
// installed to <prefix>/share/plinth (cmake --install, the .deb, the container image).
//
// Lookup rule (docs/install.md): a relative recipe or tokenizer path is read from the working
// directory when it exists there, else from the shipped folder. Outputs (shards, runs, a
// retrained tokenizer) always go to the working directory, never into the installation.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace plinth {

// The running executable (/proc/self/exe); empty when it cannot be read.
std::filesystem::path executable_path();

// The folders searched for shipped files, in order: $PLINTH_SHARE_DIR when set, then
// <executable>/../share/plinth. Only folders that exist are listed.
std::vector<std::filesystem::path> shipped_dirs();

// `relative` under the first shipped folder that has it; nullopt for an absolute path or when
// no shipped folder has it.
std::optional<std::filesystem::path> shipped_file(const std::filesystem::path& relative);

// `path` itself when it exists (or is absolute), else its shipped copy when there is one, else
// `path` unchanged (so the caller's "does not exist" message names what the user typed).
std::filesystem::path existing_or_shipped(const std::filesystem::path& path);

}  // namespace plinth
