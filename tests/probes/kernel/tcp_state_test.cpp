#include "probes/kernel/tcp_state.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace connwatch::kernel {
namespace {

TEST(TcpState, LabelValuesAreTheElevenNamesOfSpec) {
  std::set<std::string> names;
  for (const TcpState s : kAllTcpStates) names.insert(std::string(to_string(s)));
  EXPECT_EQ(names, (std::set<std::string>{"established", "syn_sent", "syn_recv", "fin_wait1",
                                          "fin_wait2", "time_wait", "close", "close_wait",
                                          "last_ack", "listen", "closing"}));
}

TEST(TcpState, MapsKernelNumbersInTcpStatesOrder) {
  EXPECT_EQ(tcp_state_from_kernel(1), TcpState::kEstablished);
  EXPECT_EQ(tcp_state_from_kernel(6), TcpState::kTimeWait);
  EXPECT_EQ(tcp_state_from_kernel(10), TcpState::kListen);
  EXPECT_EQ(tcp_state_from_kernel(11), TcpState::kClosing);
  for (const TcpState s : kAllTcpStates) EXPECT_EQ(tcp_state_from_kernel(kernel_value(s)), s);
}

TEST(TcpState, ReportsRequestSocketsAsSynRecv) {
  EXPECT_EQ(tcp_state_from_kernel(12), TcpState::kSynRecv);
}

TEST(TcpState, RejectsNumbersOutsideTheKernelStates) {
  EXPECT_FALSE(tcp_state_from_kernel(0));
  EXPECT_FALSE(tcp_state_from_kernel(13));  // TCP_BOUND_INACTIVE: not a connection state
  EXPECT_FALSE(tcp_state_from_kernel(255));
}

}  // namespace
}  // namespace connwatch::kernel
