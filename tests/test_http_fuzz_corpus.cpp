// Replays the ResponseParser fuzzer's seed corpus through the fuzz target itself, so every build
// (g++ included, without libFuzzer) checks its invariants: whole, in pieces and byte by byte
// agree, bodies add up, only HttpError escapes. A broken invariant aborts the test.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz/response_parser_fuzzer.cpp"

namespace {

TEST(HttpFuzzCorpus, every_seed_keeps_the_fuzzer_invariants) {
  const auto corpus =
      std::filesystem::path(__FILE__).parent_path() / "fuzz" / "corpus" / "response_parser";
  std::size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_EQ(
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
        0);
    ++seeds;
  }
  EXPECT_GE(seeds, 10u);
}

}  // namespace
