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

# Unity builds (PLINTH_UNITY, on by default): the sources of a target are compiled in batches of
# PLINTH_UNITY_BATCH files, one translation unit each, so that torch's, CLI11's, fmt's and JSON's
# headers and their inline templates are compiled once per batch instead of once per file. A batch
# holds only torch files or only torch-free files, so a torch-free batch still skips the
# precompiled header. Files with their own compile options or definitions are compiled alone
# (CMake leaves them out of unity sources). Everything in a file's anonymous namespace must
# therefore have a name unique within its target.

# Puts `files` into UNITY_GROUPs <target>_<kind>_<i> of PLINTH_UNITY_BATCH files; the names of
# the groups go to ${groups_out} when given.
function(_plinth_unity_batches target kind files)
  set(groups "")
  if(NOT PLINTH_UNITY OR NOT files)
    if(ARGC GREATER 3)
      set(${ARGV3} "" PARENT_SCOPE)
    endif()
    return()
  endif()
  set(i 0)
  set(n 0)
  foreach(file IN LISTS files)
    set_source_files_properties("${file}" TARGET_DIRECTORY ${target} PROPERTIES
      UNITY_GROUP "${target}_${kind}_${i}")
    list(APPEND groups "${target}_${kind}_${i}")
    math(EXPR n "${n} + 1")
    if(n EQUAL PLINTH_UNITY_BATCH)
      math(EXPR i "${i} + 1")
      set(n 0)
    endif()
  endforeach()
  list(REMOVE_DUPLICATES groups)
  if(ARGC GREATER 3)
    set(${ARGV3} "${groups}" PARENT_SCOPE)
  endif()
endfunction()

# The sources of `target` that are C++ files, as absolute paths.
function(_plinth_cpp_sources target out)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(result "")
  foreach(source IN LISTS sources)
    if(source MATCHES "\\.cpp$")
      get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
      list(APPEND result "${path}")
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# A target without torch: its sources in unity batches.
function(plinth_unity target)
  if(NOT PLINTH_UNITY)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  _plinth_cpp_sources(${target} sources)
  _plinth_unity_batches(${target} all "${sources}")
endfunction()

# A target with the torch precompiled header: its torch-free sources skip the header, and with
# PLINTH_UNITY both kinds are batched apart.
function(plinth_skip_pch_where_torch_free target)
  _plinth_cpp_sources(${target} sources)
  set(skipped "")
  set(with_torch "")
  foreach(path IN LISTS sources)
    _plinth_reaches_torch("${path}" torch)
    if(torch)
      list(APPEND with_torch "${path}")
    else()
      list(APPEND skipped "${path}")
    endif()
  endforeach()
  if(skipped)
    set_source_files_properties(${skipped} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
  if(PLINTH_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
    _plinth_unity_batches(${target} torch "${with_torch}")
    _plinth_unity_batches(${target} free "${skipped}" batches)
    # The unity sources CMake generates for the torch-free batches skip the header as well.
    get_target_property(binary_dir ${target} BINARY_DIR)
    foreach(group IN LISTS batches)
      set_source_files_properties(
        "${binary_dir}/CMakeFiles/${target}.dir/Unity/unity_${group}_cxx.cxx"
        TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endforeach()
  endif()
endfunction()

# An executable that includes torch reuses the libraries' precompiled header (lib/model). GCC and
# clang accept a PCH only under the same code model: the executable is compiled with the
# libraries' -fPIC instead of CMake's -fPIE for executables (PIC code links into a PIE too).
function(plinth_use_library_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${target} PRIVATE -fPIC)
  target_precompile_headers(${target} REUSE_FROM plinth_model)
endfunction()
