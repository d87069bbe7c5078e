# The torch releases cotnpot supports live in one place, pyproject.toml's "torch>=MIN,<BELOW" dependency,
# read here at build time and by setup.py (for the import-time check).
file(READ "${PROJECT_SOURCE_DIR}/pyproject.toml" _pyproject)
if(NOT _pyproject MATCHES "\"torch(>=([0-9.]+),<([0-9.]+))\"")
  message(FATAL_ERROR "pyproject.toml must list torch as \"torch>=MIN,<BELOW\"")
endif()
set(_range "${CMAKE_MATCH_1}")
set(COTNPOT_TORCH_MIN "${CMAKE_MATCH_2}")
set(COTNPOT_TORCH_BELOW "${CMAKE_MATCH_3}")
if(Torch_VERSION VERSION_LESS COTNPOT_TORCH_MIN OR NOT Torch_VERSION VERSION_LESS COTNPOT_TORCH_BELOW)
  message(FATAL_ERROR "cotnpot needs torch ${_range}, but the torch found at ${Torch_DIR} is ${Torch_VERSION}. "
                      "Put a supported torch's torch.utils.cmake_prefix_path on CMAKE_PREFIX_PATH.")
endif()
set(COTNPOT_TORCH_VERSION "${Torch_VERSION}")
message(STATUS "cotnpot: building against torch ${Torch_VERSION} (${Torch_DIR})")
