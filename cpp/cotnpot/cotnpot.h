#pragma once
// Everything cotnpot offers to C++ users, in one include.
//
// Example:
//   #include <cotnpot/cotnpot.h>
//   at::Tensor lp = cotnpot::logprob::sequence_logprob(logits, labels);  // [B] summed log-probs
#include "cotnpot/answer/equiv.h"
#include "cotnpot/answer/grade.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/answer/normalize.h"
#include "cotnpot/exec/executor.h"
#include "cotnpot/logprob/fused_linear_logprob.h"
#include "cotnpot/logprob/sequence_logprob.h"
#include "cotnpot/losses/dpo_loss.h"
#include "cotnpot/losses/orm_loss.h"
#include "cotnpot/losses/simpo_loss.h"
#include "cotnpot/metrics/subset_accuracy.h"
#include "cotnpot/selection/select.h"
#include "cotnpot/version.h"
