#pragma once
// fetch --compare: the course texts' table of sequential, threaded and asynchronous downloads
// (seconds for 1, 10, 50... fetches each way) and its line chart.

#include <cstddef>
#include <string>
#include <vector>

#include "settings.hpp"

namespace fetch {

/// Totals of a run, for the summary line.
struct Totals {
  std::size_t ok = 0;
  std::size_t failed = 0;
};

/// Prints the table for `settings.compare` (and draws settings.plot when given); failures go to
/// stderr as in a plain run.
Totals run_compare(const Settings& settings);

}  // namespace fetch
