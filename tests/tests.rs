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
// Simulator offboarding: status, delete/disassociate with transfers, roles, refusals, ground truth.
mod sim_offboard;
// Simulator licences: PATCH /users/{id} (type, Zoom Rooms, Zoom Events, the Basic cap) and
// what a transfer target's licence can receive.
mod sim_licences;
// revoke in-process against the simulator: helpers shared by the revoke_* and resume_* modules.
mod revoke_support;
// revoke end to end: happy path, not found, invalid, duplicates, odd input.
mod revoke_basic;
// revoke under faults: 5xx, drops, stalls, token expiry, scope loss, daily limit.
mod revoke_faults;
// revoke through outages: nobody failed for them, bounded waits, an unreachable API.
mod revoke_outage;
// offboard: waves, transfers, every safety rule and Zoom refusal, lost deletes, dry run, resume.
mod offboard;
// offboard's data and licences: every transfer kind, --transfer-kinds, a Basic target, downgrade.
mod offboard_licences;
// revoke's pacing against the simulator's rate limits.
mod revoke_pacing;
// the real binary stopped (SIGKILL, SIGINT, daily limit) and resumed.
mod resume_kill;
// offboard's real binary SIGKILLed in each wave (revoke, lookups, deactivate, delete), resumed.
mod offboard_kill;
// chaos: revoke and offboard SIGKILLed at 20 seeded moments under faults, resumed each time.
mod chaos;
// dry runs (both lookup strategies) and `users` listing.
mod cli_dryrun_users;
// the one paging path: numbered pages in parallel, their checks, the token chain as fallback.
mod listing;
// reconcile against the HR roster: candidates, the guard, early stops, dialects, config keys.
mod reconcile;
// the real binary's surface: report refusal and lock, file mode, usage errors, help output.
mod cli_binary;
// Zoom's published OpenAPI spec between the tool and the simulator (Stoplight Prism proxy).
mod conformance;
// Security: helpers (the binary as a subprocess, a scriptable raw HTTP server, random secrets).
mod sec_support;
// Security: property tests over the input reader and path encoding; invalid input never sent.
mod sec_input;
// Security: secrets and tokens never printed, logged, reported or shown in Debug.
mod sec_secrets;
// Security: hostile servers (huge bodies, redirects, bad JSON, absurd Retry-After, hangs, cuts).
mod sec_hostile;
// Security: TLS verification and versions, plain http refused, no unwrap outside tests.
mod sec_tls;
// Evidence: the chain recomputed independently, verify on tampered reports, the run log, the page.
mod evidence;
// The report: formula cells read back, planted paths refused, a write error mid-run (exit 3).
mod report_safety;
// The seven bugs of issue 17, each with the test that failed before its fix.
mod regressions;
