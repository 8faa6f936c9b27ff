# Install layout and the .deb (docs/install.md).
#   <prefix>/bin/plinth
#   <prefix>/lib/plinth/libplinth_spm.so     the sentencepiece bridge, dlopen'ed (tokenizer.h)
#   <prefix>/share/plinth/{recipes,tokenizers} what `plinth recipes` lists; a relative recipe or
#                                            tokenizer path not in the working directory is read
#                                            from here (util/shipped.h)
#   <prefix>/share/doc/plinth/               README and docs/
# The bridge is found relative to the binary, so a relocated prefix (DESTDIR, /opt) works.

install(TARGETS plinth RUNTIME DESTINATION bin)
install(TARGETS plinth_spm LIBRARY DESTINATION lib/plinth)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/recipes DESTINATION share/plinth)
install(FILES ${PROJECT_SOURCE_DIR}/tokenizers/debian.model ${PROJECT_SOURCE_DIR}/tokenizers/debian.vocab
              ${PROJECT_SOURCE_DIR}/tokenizers/debian.yaml
        DESTINATION share/plinth/tokenizers)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/plinth)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/plinth/docs)

# The Debian package. Its Depends are computed from the installed binaries by dpkg-shlibdeps
# (the runtime libraries, never the -dev packages), plus the optimized BLAS that Debian's
# libtorch reaches only through the libblas.so.3 alternative. It Recommends the packages of the
# embedded default corpora (scripts/debian-packages.txt, [corpora]), so that the quickstart runs
# after `apt install ./plinth_*.deb` and a server install can leave them out.
function(plinth_debian_packages section out)
  file(STRINGS ${PROJECT_SOURCE_DIR}/scripts/debian-packages.txt lines)
  set(current "")
  set(names "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^\\[(.*)\\]")
      set(current "${CMAKE_MATCH_1}")
    elseif(current STREQUAL section AND line MATCHES "^([a-z0-9][a-z0-9.+-]+)")
      list(APPEND names "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  list(JOIN names ", " joined)
  set(${out} "${joined}" PARENT_SCOPE)
endfunction()
plinth_debian_packages(corpora PLINTH_CORPORA_PACKAGES)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME plinth)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "pretrain, fine-tune and measure the forgetting of small transformer models")
set(CPACK_PACKAGE_CONTACT "plinth maintainers <plinth@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp | libopenblas0")
# A LibTorch 2.x wheel's libraries belong to no Debian package: dpkg-shlibdeps is told they are
# private (the CUDA image copies them to the same path; the binary's RPATH names it).
get_filename_component(_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
if(NOT _torch_lib_dir MATCHES "^/usr/")
  file(GLOB _torch_wheel_lib_dirs LIST_DIRECTORIES true "${_torch_lib_dir}/../../nvidia/*/lib")
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_torch_lib_dir};${_torch_wheel_lib_dirs}")
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "${PLINTH_CORPORA_PACKAGES}")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "plinth trains a SentencePiece tokenizer, pretrains a decoder-only transformer on a
mixture of text domains, fine-tunes it from YAML recipes (full, LoRA, frozen layers,
replay, EWC, L2-SP) and measures per domain how much the fine-tune made it forget,
with intervals, gated in CI by `plinth gate`.")
include(CPack)
