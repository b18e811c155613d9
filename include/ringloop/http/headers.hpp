#pragma once
// Headers: an ordered list of name/value fields with case-insensitive lookup (RFC 9110 5.1),
// keeping the order and the spelling they were added or received in.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringloop::http {

/// One header field.
struct Header {
  std::string name;
  std::string value;
};

/// An ordered, case-insensitive multimap of header fields.
class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<Header> fields) : fields_(fields) {}

  /// Appends a field (a repeated name is kept as a second field).
  void add(std::string name, std::string value);
  /// Replaces every field named `name` with one field.
  void set(std::string name, std::string value);
  /// Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  /// The first field named `name`, if any.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  /// Every value of `name`, in order.
  [[nodiscard]] std::vector<std::string_view> get_all(std::string_view name) const;
  /// Whether a field named `name` exists.
  [[nodiscard]] bool contains(std::string_view name) const { return get(name).has_value(); }

  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
  [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }
  [[nodiscard]] auto begin() const noexcept { return fields_.begin(); }
  [[nodiscard]] auto end() const noexcept { return fields_.end(); }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<Header> fields_;
};

/// ASCII case-insensitive equality, as header names and tokens compare.
[[nodiscard]] bool equals_ignoring_case(std::string_view left, std::string_view right) noexcept;
/// Whether the comma-separated list `value` (as in Connection or Transfer-Encoding) holds
/// `token`, ignoring case and optional whitespace.
[[nodiscard]] bool list_contains_token(std::string_view value, std::string_view token) noexcept;

}  // namespace ringloop::http
