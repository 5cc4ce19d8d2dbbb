// The explicit victim-selector registry: one line per selector (models/reclaim/select_<name>.cpp),
// in the order `vmemsim list` shows them (STYLE.md: no self-registering statics).
#include "models/reclaim/selector.hpp"

namespace vmemsim::reclaim {

SelectorInfo age_selector_info();
SelectorInfo exact_lru_selector_info();
SelectorInfo fifo_selector_info();
SelectorInfo clock_selector_info();
SelectorInfo random_selector_info();
SelectorInfo opt_selector_info();

const std::vector<SelectorInfo>& selector_registry() {
  static const std::vector<SelectorInfo> table = {
      age_selector_info(),
      exact_lru_selector_info(),
      fifo_selector_info(),
      clock_selector_info(),
      random_selector_info(),
      opt_selector_info(),
  };
  return table;
}

const SelectorInfo* find_selector(std::string_view name) {
  for (const SelectorInfo& s : selector_registry())
    if (name == s.name) return &s;
  return nullptr;
}

}  // namespace vmemsim::reclaim
