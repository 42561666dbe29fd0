# Shapes LibTorch's imported targets (found already by find_package(Torch)) for ddim and for
# projects that use the installed ddim package; ddimConfig.cmake includes this file too.
# - `torch` links libtorch_cuda inside -Wl,--no-as-needed when LibTorch was built with CUDA, so
#   CUDA works whenever a GPU is present, whatever the linker's --as-needed default;
# - torch::cudart would add the system CUDA runtime (and its folder) to our binaries. ddim calls
#   no CUDA API itself, and libtorch_cuda loads the runtime it was built with through its own
#   RPATH, so our binaries keep only LibTorch in NEEDED and start on machines without CUDA. (With
#   it, the toolkit's lib64 joins the link's search path and the linker can resolve libtorch_cuda's
#   libnccl.so.2 to the toolkit's older copy: undefined ncclCommSuspend and friends.)
# - caffe2::mkl names ${MKL_ROOT}/lib/intel64 and friends as link folders even when MKL was not
#   found (pytorch#73008), which put /lib/intel64 ... into our RUNPATH: cleared when MKL is absent.
# Sets DDIM_TORCH_LIBRARY_DIR and DDIM_TORCH_HAS_CUDA.

get_target_property(_ddim_torch_location torch IMPORTED_LOCATION_RELEASE)
if(NOT _ddim_torch_location)
  get_target_property(_ddim_torch_location torch IMPORTED_LOCATION)
endif()
if(_ddim_torch_location)
  get_filename_component(DDIM_TORCH_LIBRARY_DIR "${_ddim_torch_location}" DIRECTORY)
else()
  set(DDIM_TORCH_LIBRARY_DIR "${TORCH_INSTALL_PREFIX}/lib")
endif()

if(TARGET torch_cuda)
  set(DDIM_TORCH_HAS_CUDA ON)
else()
  set(DDIM_TORCH_HAS_CUDA OFF)
endif()

if(TARGET torch::cudart)
  set(_ddim_cuda_includes "")
  if(CUDAToolkit_INCLUDE_DIRS)
    set(_ddim_cuda_includes "${CUDAToolkit_INCLUDE_DIRS}")
  endif()
  set_target_properties(torch::cudart PROPERTIES
    INTERFACE_LINK_LIBRARIES ""
    INTERFACE_INCLUDE_DIRECTORIES "${_ddim_cuda_includes}")
endif()

if(TARGET caffe2::mkl AND NOT MKL_FOUND)
  set_target_properties(caffe2::mkl PROPERTIES INTERFACE_LINK_DIRECTORIES "")
endif()
