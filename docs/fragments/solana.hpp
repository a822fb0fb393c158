// What the fragments of docs/solana.md take as given: an io_context, the bot's
// transaction builder, the exit's request and handler (examples/CMakeLists.txt
// compiles them; they are not run).
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/rpc_venue.hpp>

#include <boost/asio/io_context.hpp>

using namespace exitguard;

extern boost::asio::io_context io;
solana::BuiltTransaction my_builder(const solana::TransactionRequest& request);
extern ExitRequest request;
void handler(boost::system::error_code ec, ExitReport report);
