// What the fragments of docs/errors.md take as given: an io_context, a policy, a
// logger and a venue's own error category (examples/CMakeLists.txt compiles the
// fragments; they are not run).
#pragma once

#include <exitguard/bounded_retry_executor.hpp>
#include <exitguard/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>
#include <spdlog/logger.h>

#include <cassert>
#include <iostream>

extern boost::asio::io_context io;
extern exitguard::RetryPolicy policy;
extern spdlog::logger logger;
extern boost::system::error_code ec;

namespace my_venue {
const boost::system::error_category& category() noexcept;
}
