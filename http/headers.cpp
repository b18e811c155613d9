// Headers: a vector of fields searched linearly. Responses carry a few dozen fields at most, so
// a scan beats any index and keeps the order and spelling exactly as received.

#include <ringloop/http/headers.hpp>

#include <utility>

#include "http/syntax.hpp"

namespace ringloop::http {

void Headers::add(std::string name, std::string value) {
  fields_.push_back(Header{std::move(name), std::move(value)});
}

void Headers::set(std::string name, std::string value) {
  // The first field of that name keeps its place (a replaced Host stays first); later ones go.
  std::vector<Header> kept;
  kept.reserve(fields_.size() + 1);
  bool replaced = false;
  for (Header& field : fields_) {
    if (!equals_ignoring_case(field.name, name)) {
      kept.push_back(std::move(field));
    } else if (!replaced) {
      kept.push_back(Header{name, std::move(value)});
      replaced = true;
    }
  }
  if (!replaced) kept.push_back(Header{std::move(name), std::move(value)});
  fields_ = std::move(kept);
}

std::size_t Headers::remove(std::string_view name) {
  const auto before = fields_.size();
  std::erase_if(fields_,
                [name](const Header& field) { return equals_ignoring_case(field.name, name); });
  return before - fields_.size();
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const Header& field : fields_) {
    if (equals_ignoring_case(field.name, name)) return std::string_view(field.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const Header& field : fields_) {
    if (equals_ignoring_case(field.name, name)) values.emplace_back(field.value);
  }
  return values;
}

bool equals_ignoring_case(std::string_view left, std::string_view right) noexcept {
  if (left.size() != right.size()) return false;
  for (std::size_t i = 0; i < left.size(); ++i) {
    if (detail::to_lower_ascii(left[i]) != detail::to_lower_ascii(right[i])) return false;
  }
  return true;
}

bool list_contains_token(std::string_view value, std::string_view token) noexcept {
  while (true) {
    const std::size_t comma = value.find(',');
    if (equals_ignoring_case(detail::trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace ringloop::http
