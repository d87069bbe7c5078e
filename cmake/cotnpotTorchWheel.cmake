# Building against torch from a PyPI wheel (torch.utils.cmake_prefix_path on CMAKE_PREFIX_PATH).
#
# Included before find_package(Torch) by cotnpot's own build and by cotnpotConfig.cmake, so C++ users get
# the same two fixes:
#  1. A CUDA build of torch makes TorchConfig look for a CUDA toolkit (nvcc, headers, cudart) and fail
#     without one, even for code that has no CUDA source. Where the machine has none, the toolkit that
#     PyPI ships beside torch (cuda-toolkit[nvcc,cudart,crt,cccl], in site-packages/nvidia/cu<major>) is used,
#     through a small directory of links laid out as FindCUDA and nvcc expect (unversioned .so names, lib64).
#  2. libtorch_cuda needs the NCCL, cuDNN, ... of its wheels (site-packages/nvidia/*/lib, found at run time
#     through its own RUNPATH). When a program links it, ld resolves those libraries too, and would take an
#     older copy from a system CUDA's lib directory: -rpath-link points it at the wheels' first.
include_guard(GLOBAL)
option(COTNPOT_CUDA_FROM_WHEELS "Use the CUDA toolkit from PyPI even where the machine has one" OFF)

# The torch that find_package(Torch) will load: Torch_DIR when given (or cached), else CMAKE_PREFIX_PATH.
if(Torch_DIR AND EXISTS "${Torch_DIR}/TorchConfig.cmake")
  set(_cotnpot_torch_config "${Torch_DIR}/TorchConfig.cmake")
else()
  find_file(_cotnpot_torch_config TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch NO_CACHE)
endif()
if(_cotnpot_torch_config)
  # .../site-packages/torch/share/cmake/Torch/TorchConfig.cmake -> .../site-packages
  get_filename_component(COTNPOT_TORCH_SITE_PACKAGES "${_cotnpot_torch_config}/../../../../.." ABSOLUTE)
  file(GLOB COTNPOT_TORCH_WHEEL_LIB_DIRS LIST_DIRECTORIES true "${COTNPOT_TORCH_SITE_PACKAGES}/nvidia/*/lib")
  # The CUDA major torch was built for (torch/version.py: cuda = '13.0'), to pick nvidia/cu13, not cu12.
  file(STRINGS "${COTNPOT_TORCH_SITE_PACKAGES}/torch/version.py" _cuda_line REGEX "^cuda")
  if(_cuda_line MATCHES "'([0-9]+)\\.")
    set(COTNPOT_TORCH_CUDA_MAJOR "${CMAKE_MATCH_1}")
  endif()
endif()

set(_root "${CMAKE_BINARY_DIR}/cuda-toolkit-from-wheels")
set(_wheel_toolkit "${COTNPOT_TORCH_SITE_PACKAGES}/nvidia/cu${COTNPOT_TORCH_CUDA_MAJOR}")
find_program(_cotnpot_nvcc nvcc PATHS /usr/local/cuda/bin NO_CACHE)
# Lay the directory out afresh at every configure where it is (or is to be) the toolkit: a new pin of
# cuda-toolkit then never leaves links to the old one.
if(COTNPOT_TORCH_CUDA_MAJOR AND EXISTS "${_wheel_toolkit}/bin/nvcc" AND
   (COTNPOT_CUDA_FROM_WHEELS OR (NOT _cotnpot_nvcc AND NOT CUDA_TOOLKIT_ROOT_DIR) OR
    CUDA_TOOLKIT_ROOT_DIR STREQUAL _root))
  file(REMOVE_RECURSE "${_root}")
  file(MAKE_DIRECTORY "${_root}/lib64" "${_root}/bin")
  # nvcc finds lib64/ etc. relative to where it runs from, so its programs are hard links (copies
  # where links cannot be made) in this directory, not a link to the wheel's bin/.
  file(GLOB _tools LIST_DIRECTORIES true "${_wheel_toolkit}/bin/*")
  foreach(_tool IN LISTS _tools)
    get_filename_component(_name "${_tool}" NAME)
    if(IS_DIRECTORY "${_tool}")
      file(CREATE_LINK "${_tool}" "${_root}/bin/${_name}" SYMBOLIC)
    else()
      file(CREATE_LINK "${_tool}" "${_root}/bin/${_name}" COPY_ON_ERROR)
    endif()
  endforeach()
  file(CREATE_LINK "${_wheel_toolkit}/include" "${_root}/include" SYMBOLIC)
  file(CREATE_LINK "${_wheel_toolkit}/nvvm" "${_root}/nvvm" SYMBOLIC)
  file(GLOB _libs "${_wheel_toolkit}/lib/lib*.so*" "${_wheel_toolkit}/lib/lib*.a")
  foreach(_lib IN LISTS _libs)
    get_filename_component(_name "${_lib}" NAME)
    string(REGEX REPLACE "\\.so\\..*$" ".so" _plain "${_name}")
    file(CREATE_LINK "${_lib}" "${_root}/lib64/${_name}" SYMBOLIC)
    if(NOT EXISTS "${_root}/lib64/${_plain}")
      file(CREATE_LINK "${_lib}" "${_root}/lib64/${_plain}" SYMBOLIC)
    endif()
  endforeach()
  set(CUDA_TOOLKIT_ROOT_DIR "${_root}" CACHE PATH "CUDA toolkit (from torch's PyPI wheels)" FORCE)
  set(CUDAToolkit_ROOT "${_root}")
  set(CMAKE_CUDA_COMPILER "${_root}/bin/nvcc" CACHE FILEPATH "nvcc (from torch's PyPI wheels)" FORCE)
  message(STATUS "cotnpot: using the CUDA toolkit from PyPI in ${_wheel_toolkit}")
endif()

# Called after find_package(Torch).
function(cotnpot_link_torch_wheel_libraries)
  if(TARGET torch AND COTNPOT_TORCH_WHEEL_LIB_DIRS)
    list(JOIN COTNPOT_TORCH_WHEEL_LIB_DIRS ":" _dirs)
    set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS "LINKER:-rpath-link,${_dirs}")
  endif()
endfunction()
