// Typed errors that carry context. The library throws; only apps/ turn them into
// messages and exit codes (BadInput -> 2, Failure -> 1).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace plinth {

// Where a problem sits in a user's file. line/column are 1-based; 0 means unknown.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;

  bool known() const { return !file.empty(); }
  std::string str() const;  // "file:line:col", "file:line", "file" or ""
};

// One thing wrong with the user's input: what, where, and what to do about it.
struct Problem {
  Location where;
  std::string key;      // dotted key path in a recipe ("data.domains[2].weight"), or ""
  std::string message;  // what is wrong, in the user's terms
  std::string hint;     // what to do; may be empty

  std::string str() const;  // "file:3:7: data.x: message\n  hint: ..."
};

// A problem with no file position or key (its message names the file).
Problem problem(std::string message, std::string hint);

// A problem at `key` with no file position: options that may come from a recipe or from code.
Problem key_problem(std::string key, std::string message, std::string hint);

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's input (recipe, corpus, checkpoint, CLI argument) is wrong: exit code 2.
// Holds every problem found, so a user fixes them all in one round.
class BadInput : public Error {
 public:
  explicit BadInput(std::vector<Problem> problems);
  BadInput(std::string message, std::string hint = {}, Location where = {});
  // One problem at `key`: a dotted key path in a recipe, or a field of the file `where` names.
  BadInput(Location where, std::string key, std::string message, std::string hint = {});

  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// Something failed that is not the user's input (I/O error, internal error): exit code 1.
class Failure : public Error {
 public:
  using Error::Error;
};

// Ctrl-C or SIGTERM stopped the work cleanly (the run saved what it had): exit code 128 + signal,
// the shell's convention for "ended by signal N" (130 for SIGINT, 143 for SIGTERM).
class StoppedBySignal : public Error {
 public:
  StoppedBySignal(int signal, std::string what) : Error(std::move(what)), signal_(signal) {}
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

// Collects problems while validating; throws them together.
class Diagnostics {
 public:
  void add(Problem p) { problems_.push_back(std::move(p)); }
  bool empty() const { return problems_.empty(); }
  const std::vector<Problem>& problems() const { return problems_; }
  // Throws BadInput with every problem collected so far, if any.
  void throw_if_any() const;

 private:
  std::vector<Problem> problems_;
};

}  // namespace plinth
