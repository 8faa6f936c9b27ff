// A small real corpus (paragraphs of the licences in /usr/share/common-licenses) and a recipe
// over it in a scratch directory, plus a way to run the plinth binary there.
#pragma once

#include <string>

#include "test_support.h"

namespace plinth::test {

class CliFixture {
 public:
  CliFixture();

  // Runs `plinth <args>` with the scratch directory as working directory.
  CommandResult plinth(const std::string& args) const;
  // Writes the recipe file `name` (default recipe.yaml) with `text`.
  void recipe(const std::string& text, const std::string& name = "recipe.yaml") const;
  const TempDir& dir() const { return dir_; }

  // A valid recipe: two domains (alpha: GPL-3 paragraphs, beta: a directory of licences).
  static std::string base_recipe();
  // base_recipe() with the tokenizer symbols a task template needs (<|prompt|>, <|response|>,
  // <|end|>) on line 5.
  static std::string task_data_recipe();
  // A task file of sixteen German-English word pairs, one per line (TSV: prompt, completion).
  static std::string task_tsv();

 private:
  TempDir dir_;
};

}  // namespace plinth::test
