# Build time: the torch precompiled header costs a file that includes no torch more than it
# saves. Loading it and compiling what it drags in took cmd_gate.cpp 23 s against 13 s without
# it (forgetting_report.cpp 25 s against 22 s), while a torch-heavy file gains (llama.cpp 17 s
# against 24 s; gcc 12, -O3, one core). So every target that uses the header calls
# plinth_skip_pch_where_torch_free(), which turns it off for its sources that reach no torch
# header, directly or through plinth's own headers. The scan follows `#include "..."` lines
# through the source tree (relative to the including file, lib/, apps/, tests/, tests/cli/) and
# stops at the first <torch/...>, <ATen/...>, <c10/...> or <caffe2/...>; results are cached per
# header for the configure run. A file that uses torch only through the precompiled header
# would fail to compile once it is skipped: every file includes what it uses.

set(_PLINTH_INCLUDE_ROOTS
    "${PROJECT_SOURCE_DIR}/lib" "${PROJECT_SOURCE_DIR}/apps" "${PROJECT_SOURCE_DIR}/tests"
    "${PROJECT_SOURCE_DIR}/tests/cli")

# Sets ${out} to TRUE when `file` includes a torch header, itself or through plinth's headers.
function(_plinth_reaches_torch file out)
  get_property(known GLOBAL PROPERTY "_PLINTH_TORCH:${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "_PLINTH_TORCH:${file}")
    set(${out} ${value} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "_PLINTH_TORCH:${file}" FALSE)  # an include cycle ends here
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(here "${file}" DIRECTORY)
  set(result FALSE)
  foreach(line IN LISTS lines)
    if(line MATCHES "include[ \t]*<(torch|ATen|c10|caffe2)/")
      set(result TRUE)
      break()
    endif()
    if(NOT line MATCHES "include[ \t]*\"([^\"]+)\"")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    foreach(root IN ITEMS "${here}" ${_PLINTH_INCLUDE_ROOTS})
      if(EXISTS "${root}/${name}")
        get_filename_component(header "${root}/${name}" ABSOLUTE)
        _plinth_reaches_torch("${header}" sub)
        if(sub)
          set(result TRUE)
        endif()
        break()
      endif()
    endforeach()
    if(result)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "_PLINTH_TORCH:${file}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(plinth_skip_pch_where_torch_free target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(skipped "")
  foreach(source IN LISTS sources)
    if(NOT source MATCHES "\\.cpp$")
      continue()
    endif()
    get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
    _plinth_reaches_torch("${path}" torch)
    if(NOT torch)
      list(APPEND skipped "${path}")
    endif()
  endforeach()
  if(skipped)
    set_source_files_properties(${skipped} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()
