// The C interface between plinth_tokenizer and the sentencepiece bridge (libplinth_spm.so).
// Plain C types only: the two sides are separately loaded objects, so no C++ object or
// exception may cross. Strings returned as char* are malloc'd; free with plinth_spm_free_string.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern "C" {

// Pulls the next training sentence; returns 0 at the end.
typedef int (*plinth_spm_next_fn)(void* ctx, const char** data, size_t* size);
// Receives the ids of one encoded text.
typedef void (*plinth_spm_ids_fn)(void* ctx, const int* ids, size_t count);

enum plinth_spm_info_kind {
  PLINTH_SPM_VOCAB = 0,
  PLINTH_SPM_BOS,
  PLINTH_SPM_EOS,
  PLINTH_SPM_UNK,
  PLINTH_SPM_PAD
};

// Trains from `count` key/value option pairs (sentencepiece trainer flag names) on the
// sentences `next` yields. On success returns NULL and sets *model (the serialized model,
// malloc'd, *model_size bytes); on failure returns the error message.
typedef char* (*plinth_spm_train_fn)(const char* const* keys, const char* const* values, size_t count,
                                     plinth_spm_next_fn next, void* ctx, char** model, size_t* model_size);
// Loads a serialized model. Returns a handle, or NULL with *error set.
typedef void* (*plinth_spm_load_fn)(const char* serialized, size_t size, char** error);
typedef void (*plinth_spm_release_fn)(void* handle);
typedef void (*plinth_spm_free_string_fn)(char* s);
// Returns 0 on success, else -1 (the text could not be encoded).
typedef int (*plinth_spm_encode_fn)(const void* handle, const char* text, size_t size, plinth_spm_ids_fn sink,
                                    void* ctx);
typedef char* (*plinth_spm_decode_fn)(const void* handle, const int* ids, size_t count, size_t* size);
typedef int (*plinth_spm_info_fn)(const void* handle, int kind);
typedef int (*plinth_spm_piece_to_id_fn)(const void* handle, const char* piece, size_t size);
typedef char* (*plinth_spm_id_to_piece_fn)(const void* handle, int id);
typedef float (*plinth_spm_score_fn)(const void* handle, int id);
typedef const char* (*plinth_spm_version_fn)(void);

// Bumped whenever a signature above changes, so a stale bridge is refused, not crashed into.
#define PLINTH_SPM_BRIDGE_ABI 1
typedef int (*plinth_spm_abi_fn)(void);
}
