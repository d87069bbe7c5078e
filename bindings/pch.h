#pragma once
// Precompiled header of the bindings: torch/extension.h alone takes ~20 s to parse.
#include <torch/extension.h>
