# Finds LibTorch (any torch 2.x wheel or libtorch archive, through CMAKE_PREFIX_PATH) and shapes its
# targets for ddim's binaries (see ddimShapeTorch.cmake).
include("${CMAKE_CURRENT_LIST_DIR}/ddimFindTorch.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/ddimShapeTorch.cmake")
message(STATUS "ddim: LibTorch ${Torch_VERSION} in ${DDIM_TORCH_LIBRARY_DIR} (CUDA build: ${DDIM_TORCH_HAS_CUDA})")
