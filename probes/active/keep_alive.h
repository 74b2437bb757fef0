// Parses the Keep-Alive response header (RFC 2068 §19.7.1.1, the de-facto `timeout=N, max=M`).
// Pure and bounds-checked; fuzzed by tests/probes/active/header_parsers_fuzz.cpp.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace connwatch::active {

// The `timeout` parameter in seconds: "timeout=5, max=100" -> 5 s. Parameter names are
// case-insensitive, the value may be quoted, whitespace around '=' and ',' is allowed. nullopt when
// there is no well-formed timeout parameter. Values saturate at one day.
std::optional<std::chrono::seconds> parse_keep_alive_timeout(std::string_view value);

// The pool's idle timeout given the server's Keep-Alive timeout: one second less than the server's
// (TCP-NOTES design rule 10: a request must not race the server's own idle close), never more than
// the configured one, never below zero.
std::chrono::milliseconds cap_idle_timeout(std::chrono::milliseconds configured,
                                           std::optional<std::chrono::seconds> server_timeout);

}  // namespace connwatch::active
