// detail::IntrusiveList on its own (no loop, so no backend to vary): removal from the front, the
// middle and the back keeps the others in order, an element can sit in two lists through two
// hooks, FIFO and LIFO pop order, linked() and the optional count.

#include <ringloop/detail/intrusive_list.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace ringloop::testing {
namespace {

struct Node {
  explicit Node(int v) : value(v) {}
  int value;
  detail::IntrusiveListHook<Node> first_hook;
  detail::IntrusiveListHook<Node> second_hook;
};

using CountedList = detail::IntrusiveList<Node, &Node::first_hook, true>;
using SecondList = detail::IntrusiveList<Node, &Node::second_hook>;
using Values = std::vector<int>;

template <class List>
Values values(const List& list) {
  Values out;
  for (const Node& node : list)
    out.push_back(node.value);
  return out;
}

// Drains the list from the front, so the links are checked a second way.
template <class List>
Values drain(List& list) {
  Values out;
  while (Node* node = list.pop_front())
    out.push_back(node->value);
  return out;
}

TEST(IntrusiveListTest, PushBackPopsInFifoOrder) {
  Node a(1), b(2), c(3);
  CountedList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.front(), nullptr);
  EXPECT_EQ(list.back(), nullptr);
  EXPECT_EQ(list.pop_front(), nullptr);
  list.push_back(a);
  list.push_back(b);
  list.push_back(c);
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list.front(), &a);
  EXPECT_EQ(list.back(), &c);
  EXPECT_EQ(list.pop_front(), &a);
  EXPECT_FALSE(a.first_hook.linked());
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.pop_front(), &b);
  EXPECT_EQ(list.pop_front(), &c);
  EXPECT_EQ(list.pop_front(), nullptr);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.back(), nullptr);
}

TEST(IntrusiveListTest, PushFrontPopsInLifoOrder) {
  Node a(1), b(2), c(3);
  CountedList list;
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  EXPECT_EQ(values(list), (Values{3, 2, 1}));
  EXPECT_EQ(list.front(), &c);
  EXPECT_EQ(list.back(), &a);
  Node d(4);
  list.push_back(d);  // both ends work on one list
  EXPECT_EQ(list.back(), &d);
  EXPECT_EQ(drain(list), (Values{3, 2, 1, 4}));
}

TEST(IntrusiveListTest, RemoveFromFrontMiddleAndBackKeepsTheRestInOrder) {
  Node a(1), b(2), c(3), d(4), e(5);
  CountedList list;
  for (Node* node : {&a, &b, &c, &d, &e})
    list.push_back(*node);
  list.remove(c);  // middle
  EXPECT_FALSE(c.first_hook.linked());
  EXPECT_EQ(values(list), (Values{1, 2, 4, 5}));
  list.remove(a);  // front
  EXPECT_EQ(list.front(), &b);
  EXPECT_EQ(values(list), (Values{2, 4, 5}));
  list.remove(e);  // back
  EXPECT_EQ(list.back(), &d);
  EXPECT_EQ(values(list), (Values{2, 4}));
  EXPECT_EQ(list.size(), 2u);
  list.push_back(c);  // a removed element can come back, at the new back
  EXPECT_EQ(list.back(), &c);
  list.remove(b);
  list.remove(d);
  EXPECT_EQ(list.front(), &c);
  EXPECT_EQ(list.back(), &c);
  list.remove(c);  // the last one
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
}

TEST(IntrusiveListTest, RemovingAnUnlinkedElementDoesNothing) {
  Node a(1), b(2);
  CountedList list;
  list.push_back(a);
  list.remove(b);  // never linked
  EXPECT_EQ(list.size(), 1u);
  list.remove(a);
  list.remove(a);  // already taken
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
}

TEST(IntrusiveListTest, OneElementSitsInTwoListsThroughTwoHooks) {
  Node a(1), b(2), c(3);
  CountedList first;
  SecondList second;
  for (Node* node : {&a, &b, &c})
    first.push_back(*node);
  for (Node* node : {&c, &a})
    second.push_back(*node);
  EXPECT_EQ(values(first), (Values{1, 2, 3}));
  EXPECT_EQ(values(second), (Values{3, 1}));
  first.remove(a);  // leaves the other list alone
  EXPECT_FALSE(a.first_hook.linked());
  EXPECT_TRUE(a.second_hook.linked());
  EXPECT_EQ(values(first), (Values{2, 3}));
  EXPECT_EQ(values(second), (Values{3, 1}));
  EXPECT_EQ(second.pop_front(), &c);
  EXPECT_TRUE(c.first_hook.linked());
  EXPECT_EQ(drain(first), (Values{2, 3}));
  EXPECT_EQ(drain(second), (Values{1}));
}

TEST(IntrusiveListTest, UncountedListTakesNoRoomForACount) {
  static_assert(sizeof(SecondList) == 2 * sizeof(Node*));
  static_assert(sizeof(detail::IntrusiveListHook<Node>) <= 3 * sizeof(Node*));
  Node a(1);
  SecondList list;
  list.push_front(a);
  EXPECT_FALSE(list.empty());
  EXPECT_EQ(list.back(), &a);
  EXPECT_EQ(drain(list), (Values{1}));
}

}  // namespace
}  // namespace ringloop::testing
