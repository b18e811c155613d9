#include <ringloop/runtime/callback_batch.hpp>

#include <ringloop/runtime/loop.hpp>

#include "loop_access.hpp"

namespace ringloop {

void CallbackBatch::post() noexcept {
  if (newest_ == nullptr) return;
  detail::LoopAccess::post_chain_from_other_thread(*loop_, newest_, oldest_);
  newest_ = oldest_ = nullptr;
  size_ = 0;
}

}  // namespace ringloop
