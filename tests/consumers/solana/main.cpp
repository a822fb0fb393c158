// Builds an RpcVenue from the installed headers (no server needed: nothing is sent),
// checks what it declares, and maps a Solana transaction error the way it would.
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/rpc_venue.hpp>
#include <exitguard/solana/transaction.hpp>

#include <exitguard/adaptive_exit_executor.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <cstdio>
#include <stdexcept>

namespace eg = exitguard;

int main() {
  boost::asio::io_context ioc;
  eg::solana::RpcVenueSettings settings;
  settings.endpoints = {"http://127.0.0.1:8899"};
  settings.token_account = std::string(eg::solana::to_base58(eg::solana::token_program_id));
  settings.lifetime = eg::solana::LifetimeMode::durable_nonce;
  settings.nonce_accounts = {{settings.token_account, settings.token_account}};
  eg::solana::RpcVenue venue(ioc.get_executor(), settings, [](const eg::solana::TransactionRequest&) -> eg::solana::BuiltTransaction {
    throw std::runtime_error("not sending anything");
  });
  static_assert(eg::check_venue_contract<eg::solana::RpcVenue>());
  const eg::VenueCapabilities caps = venue.capabilities();
  const auto err = boost::json::parse(R"({"InstructionError":[0,{"Custom":6001}]})");
  const bool slippage = eg::solana::transaction_error_code(err) == eg::error::slippage_exceeded;
  std::printf("RpcVenue: exclusive %d, queries %d; Custom 6001 -> slippage_exceeded: %d\n", caps.exclusive_attempts,
              caps.queries_position, slippage);
  return caps.exclusive_attempts && caps.queries_position && slippage ? 0 : 1;
}
