#pragma once
// Text as bytes and bytes as text, for tests that send strings through byte-span interfaces.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace ringloop::testing {

/// The bytes of `text` (a view: `text` must outlive it).
inline std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

/// The characters of `bytes`.
inline std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace ringloop::testing
