# Finds LibTorch for ddim and for projects that use the installed ddim package (ddimConfig.cmake
# includes this file too).
#
# A CUDA build of LibTorch (the PyPI wheel is one) makes find_package(Torch) enable the CUDA
# language and find a CUDA toolkit, and stops with "Please set the proper CUDA prefixes and / or
# install CUDA" when there is none, although ddim compiles no CUDA code and libtorch_cuda brings the
# CUDA runtime it needs at run time. So where LibTorch is a CUDA build and no CUDA compiler can be
# found, its libraries are imported here instead, under the names its config gives them (torch,
# torch_cpu, torch_cuda, c10, c10_cuda): the same headers and compile definitions, and the same
# libraries, libtorch_cuda among them, so one binary still runs CUDA wherever a GPU and its driver
# are. With a CUDA compiler (or a CPU-only LibTorch) find_package(Torch) runs as usual.
# DDIM_TORCH_WITHOUT_TOOLKIT=ON/OFF forces either way. Sets DDIM_TORCH_WITHOUT_TOOLKIT.

if(NOT Torch_DIR)
  find_path(Torch_DIR TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch
            DOC "the folder of LibTorch's TorchConfig.cmake")
endif()
if(NOT DEFINED DDIM_TORCH_WITHOUT_TOOLKIT)
  set(DDIM_TORCH_WITHOUT_TOOLKIT OFF)
  if(Torch_DIR AND EXISTS "${Torch_DIR}/../../../lib/libtorch_cuda.so")
    include(CheckLanguage)
    check_language(CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
      set(DDIM_TORCH_WITHOUT_TOOLKIT ON)
    endif()
  endif()
endif()

if(NOT DDIM_TORCH_WITHOUT_TOOLKIT)
  find_package(Torch REQUIRED)
elseif(NOT TARGET torch)
  get_filename_component(TORCH_INSTALL_PREFIX "${Torch_DIR}/../../.." ABSOLUTE)
  file(STRINGS "${Torch_DIR}/TorchConfigVersion.cmake" _ddim_torch_version REGEX "set\\(PACKAGE_VERSION ")
  string(REGEX REPLACE ".*\"([^\"]*)\".*" "\\1" Torch_VERSION "${_ddim_torch_version}")
  set(_ddim_torch_lib "${TORCH_INSTALL_PREFIX}/lib")
  set(_ddim_torch_include "${TORCH_INSTALL_PREFIX}/include")
  foreach(_ddim_name c10 c10_cuda torch_cpu torch_cuda torch)
    if(NOT EXISTS "${_ddim_torch_lib}/lib${_ddim_name}.so")
      message(FATAL_ERROR "ddim: ${_ddim_torch_lib}/lib${_ddim_name}.so is missing: not a whole LibTorch")
    endif()
    add_library(${_ddim_name} SHARED IMPORTED)
    set_target_properties(${_ddim_name} PROPERTIES
      IMPORTED_LOCATION "${_ddim_torch_lib}/lib${_ddim_name}.so"
      INTERFACE_INCLUDE_DIRECTORIES "${_ddim_torch_include}")
  endforeach()
  set_target_properties(c10_cuda PROPERTIES INTERFACE_LINK_LIBRARIES c10)
  set_target_properties(torch_cpu PROPERTIES
    INTERFACE_LINK_LIBRARIES c10
    INTERFACE_COMPILE_DEFINITIONS "USE_DISTRIBUTED;USE_C10D_GLOO;USE_RPC;USE_TENSORPIPE")
  set_target_properties(torch_cuda PROPERTIES
    INTERFACE_LINK_LIBRARIES "c10_cuda;torch_cpu"
    INTERFACE_COMPILE_DEFINITIONS "USE_NVSHMEM;USE_C10D_NCCL")
  # As LibTorch's own config: every library kept in NEEDED whatever the linker's --as-needed.
  set_target_properties(torch PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_ddim_torch_include};${_ddim_torch_include}/torch/csrc/api/include"
    INTERFACE_LINK_LIBRARIES
      "-Wl,--no-as-needed,\"$<TARGET_FILE:torch_cpu>\" -Wl,--as-needed;torch_cpu;-Wl,--no-as-needed,\"$<TARGET_FILE:torch_cuda>\" -Wl,--as-needed;torch_cuda;c10")
  set(TORCH_LIBRARIES torch)
  set(Torch_FOUND TRUE)
  message(STATUS "ddim: no CUDA compiler found; LibTorch ${Torch_VERSION} (a CUDA build) imported from "
                 "${TORCH_INSTALL_PREFIX} without the CUDA toolkit (CUDA still runs where a GPU is)")
endif()
