//! The one integration-test binary: each module below is a group of tests (links once).

// Shared helpers: starting a simulator, an HTTP client, tokens.
mod common;
// Simulator endpoints: revoke, get user, list users (paging), status, routing, state, users data.
mod sim_endpoints;
// Simulator OAuth: the token endpoint, token expiry, scopes.
mod sim_auth;
// Simulator rate limits: window and bucket models, daily limit, neighbour load, concurrency.
mod sim_limits;
// Simulator faults: 5xx before/after the side effect, dropped connections, stalls, outages.
mod sim_faults;
