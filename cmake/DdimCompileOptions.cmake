# Warnings, sanitizers and link flags for ddim's own targets (never for LibTorch's).
function(ddim_project_options target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(DDIM_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
    if(DDIM_SANITIZE)
      string(REPLACE ";" "," _sanitizers "${DDIM_SANITIZE}")
      target_compile_options(${target} PRIVATE -fsanitize=${_sanitizers} -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
      if(DDIM_BUILD_FUZZERS)
        # Coverage feedback for libFuzzer in all of ddim's code, not only the harnesses.
        target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
      endif()
      # An instrumented library needs the sanitizer runtime in whatever links it, installed
      # consumers included.
      get_target_property(_type ${target} TYPE)
      if(_type MATCHES "LIBRARY")
        target_link_options(${target} PUBLIC -fsanitize=${_sanitizers})
      else()
        target_link_options(${target} PRIVATE -fsanitize=${_sanitizers})
      endif()
    endif()
    # As on distributions whose linker defaults to --as-needed: LibTorch's CUDA library must stay
    # linked all the same (checked by the elf test).
    if(NOT APPLE)
      target_link_options(${target} PRIVATE "LINKER:--as-needed")
    endif()
  endif()
endfunction()
