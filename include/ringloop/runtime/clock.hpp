#pragma once
// The loop's clock: monotonic, like asyncio's loop.time().

#include <chrono>

namespace ringloop {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

}  // namespace ringloop
