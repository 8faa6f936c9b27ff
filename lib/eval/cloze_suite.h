// Cloze suites made from the pretraining domains' validation documents: multiple-choice questions
// (suite_file.h) that ask which text continues a passage, to probe what a small model still
// recognises of each domain after a fine-tune. No torch here.
//
// Units. A document is cut at boundaries: its start and end, after every '\n' (end of a line),
// and after '.', '!' or '?' that is followed by ' ', '\n' or '\r' (end of a sentence). The text
// between two consecutive boundaries, leading and trailing ASCII whitespace trimmed, is a unit
// (a line or a sentence); whitespace-only pieces are no unit. Answer candidates (below) have a
// length in code points (eval::code_points) in [min_answer_chars, max_answer_chars].
//
// Cuts (options.cut). `word` (the default): in every unit, one word boundary (white space
// followed by a non-space) drawn by hash(seed, domain, document, unit) among those that leave
// an answer of [min_answer_chars, max_answer_chars] code points; the answer candidate is the rest
// of the unit after it, and the unit's words before it end the query. `line`: the answer
// candidate is the whole unit, and the query ends at the boundary before it. A mid-line cut is the
// default because it is what a small model can answer: measured on the quickstart's base, whole
// lines after a boundary left it near chance (docs/forgetting.md, "Why acc_mutual_info").
//
// Questions. A cut is where an answer candidate starts. Its query is the passage of the same
// document that ends at the cut and starts at the earliest boundary that keeps it (trimmed)
// within query_chars code points: the whole text before the cut when that is short enough, and
// no query at all when the text from the nearest boundary is itself longer (passages never start
// mid-word). Both ends of the query are trimmed: a space or line break at the cut becomes the
// delimiter's space, as the answer's leading whitespace does. A query needs at least 20 code
// points that are not whitespace. The gold answer is the candidate itself.
//
// Draw. Documents are visited in sample_order(documents, seed, domain) (document_sample.h); each
// document's usable cuts are put in an order keyed by hash(seed, domain, document, cut). Round r
// takes the r-th cut of every document that has one, so questions spread over documents before a
// document gives a second. A cut whose (query, gold) was already asked, or for which too few
// distractors exist, is skipped. Drawing stops at `questions` questions or when the cuts run out:
// then the suite has fewer (candidates_seen says how many cuts were tried).
//
// Distractors. choices - 1 answer candidates (deduplicated by text) of other documents, with a
// length within a factor of 1.5 of the gold's (the band widens by 1.5x until enough are found):
//   <domain>-same   from the same domain, never a text that is also a unit of the question's
//                   own document (the gold included): does the model still follow this text?
//   <domain>-other  from the other domains, never a text that is also a unit anywhere in the
//                   question's domain: does it still recognise its domain?
// Picks are seeded draws (splitmix64 seeded by hash(seed, domain, kind, document, cut)) within
// the band, then a sweep of the band from a drawn start; the gold's place among the choices is
// drawn uniformly from 0..choices-1. A domain alone makes only its -same suite. A suite whose
// pool is too small has fewer questions, possibly none (suite_jsonl still writes its header, but
// read_suite_file refuses a file with no question: the caller should report and skip it).
//
// Everything is a function of the input and the options: the same documents (in shard order) and
// options give byte-identical suites.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/suite_file.h"
#include "util/config_section.h"

namespace plinth::eval {

struct DomainDocuments {
  std::string name;                    // the domain, as the recipe names it
  std::vector<std::string> documents;  // its validation documents' text, in shard order
};

// Where a question's passage ends (see "Cuts" above).
enum class ClozeCutAt { kWord, kLine };

struct ClozeOptions {
  uint64_t questions = 200;         // questions per suite, at most (fewer when cuts run out); >= 1
  int choices = 4;                  // choices per question, the gold included; >= 2
  uint64_t query_chars = 300;       // longest query, in code points; >= 20 (a query holds 20 non-space)
  uint64_t min_answer_chars = 20;   // shortest answer (gold and distractors), in code points
  uint64_t max_answer_chars = 120;  // longest answer, in code points; >= min_answer_chars
  uint64_t seed = 0;                // every draw: documents, cuts, distractors, gold positions
  ClozeCutAt cut = ClozeCutAt::kWord;  // recipe key cut: word | line
};

struct MadeSuite {
  std::string name;                      // "<domain>-same" or "<domain>-other"
  std::string domain;                    // the domain its queries and golds come from
  std::string kind;                      // "same" | "other": where the distractors come from
  std::vector<SuiteQuestion> questions;  // in draw order; line = 0
  uint64_t candidates_seen = 0;          // cuts tried: questions made + cuts skipped
};

// The recipe's `suites: cloze:` mapping (keys as ClozeOptions' fields); the checks of
// make_cloze_suites are made here too, each on its key.
void bind(ConfigSection& s, ClozeOptions& options);

// Per domain (in input order) its -same suite, then its -other suite when there are other
// domains. BadInput naming suites.cloze.<key> for options that make no sense: questions = 0,
// choices < 2, query_chars < 20, min_answer_chars > max_answer_chars.
std::vector<MadeSuite> make_cloze_suites(const std::vector<DomainDocuments>& domains,
                                         const ClozeOptions& options);

// The suite as a file read_suite_file reads: a header line {"plinth_suite": provenance}, where
// provenance is the caller's JSON object text (recipe hash, shards, seed, options; "" for {})
// with "name", "domain", "kind" and "questions" (the count) set, then one question a line
// {"query", "choices", "gold"}. UTF-8 as is (no \u escapes); ill-formed bytes become U+FFFD.
// Every line ends in '\n'. Failure (internal) when provenance_json is not a JSON object.
std::string suite_jsonl(const MadeSuite& suite, const std::string& provenance_json);

}  // namespace plinth::eval
