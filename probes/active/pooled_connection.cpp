#include "probes/active/pooled_connection.h"

namespace connwatch::active {

PooledConnection::PooledConnection(const boost::asio::any_io_executor& executor, std::uint64_t id,
                                   boost::asio::ssl::context* tls)
    : idle_timer(executor), id_(id), socket_(executor) {
  if (tls != nullptr) tls_ = std::make_unique<TlsStream>(socket_, *tls);
}

}  // namespace connwatch::active
