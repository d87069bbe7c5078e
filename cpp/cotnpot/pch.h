#pragma once
// Precompiled header of the core library and its tests: the ATen and torch headers that every
// translation unit needs and that dominate compile time. Never included by name; CMake injects it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>
