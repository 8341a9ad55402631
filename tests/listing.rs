//! The one paging path of `users`, `reconcile` and listing dry runs (`src/users.rs`): pages 2 and
//! on asked for by `page_number` in parallel, checked, and the `next_page_token` chain when
//! Zoom ignores or refuses `page_number` or the users change between pages. Ground truth is the
//! simulator's: its users in directory order (the order pages follow) and the requests it saw.

use zoom_offboard::app::users;
use zoom_offboard::exit::Exit;
use zoom_offboard::sim::{PageNumbers, Sim, SimConfig, SimUsers, UserStatus, generate_users};
use zoom_offboard::users::speculative;

use crate::cli_dryrun_users::{listed, users_args, users_ctx};
use crate::common::list_calls;

/// `n` users, all active: the listing of `--status active` is every one of them.
fn all_active(n: usize) -> Vec<zoom_offboard::sim::SimUser> {
    let mut users = generate_users(n, 7);
    for u in &mut users {
        u.status = UserStatus::Active;
    }
    users
}

/// A simulator whose Medium limit is out of the way (the listing runs at `users_args`' 200/s),
/// with enough latency spread that numbered pages come back out of order.
async fn sim_with(users: SimUsers, page_numbers: PageNumbers, list_churn: bool) -> Sim {
    Sim::start(SimConfig {
        users,
        medium_per_second: Some(1000),
        latency_ms: (2, 25),
        page_numbers,
        list_churn,
        seed: 3,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// The listing's rate in these tests: it would allow 4 numbered pages behind page 1
/// (`speculative`), which `users` does not ask for (it expects no size).
const RATE: f64 = 40.0;

/// `users --status active` in-process at [`RATE`]: its exit and the emails it wrote, in order.
async fn list(sim: &Sim) -> (Exit, Vec<String>) {
    let mut out = Vec::new();
    let mut args = users_args(sim);
    args.listing.rate = Some(RATE);
    let exit = users(&args, &users_ctx(sim), &mut out).await;
    (exit, listed(&out))
}

/// The simulator's active users now, in directory order.
fn active(sim: &Sim) -> Vec<String> {
    sim.users()
        .into_iter()
        .filter(|u| u.status == UserStatus::Active)
        .map(|u| u.email)
        .collect()
}

#[tokio::test]
async fn numbered_pages_list_exactly_the_users_in_page_order_one_call_a_page() {
    // `users` expects no size: no page goes out before page 1 has said how many there are,
    // although RATE would allow 4.
    assert_eq!(speculative(RATE), 4);
    // One page, an exact multiple of 300, one more than that, and listings longer than page 1
    // and the pages asked for behind it.
    for n in [250, 600, 601, 1800, 2101] {
        let sim = sim_with(SimUsers::List(all_active(n)), PageNumbers::Served, false).await;
        let (exit, emails) = list(&sim).await;
        assert_eq!(exit, Exit::Success, "{n} users");
        assert_eq!(emails, active(&sim), "{n} users: each once, in page order");
        let calls = list_calls(&sim);
        let pages = n.div_ceil(300);
        // A call a page, every one answered: none past the last page.
        assert_eq!(calls.len(), pages, "{n} users");
        assert!(calls.iter().all(|c| c.status == 200), "{n} users");
        assert!(
            calls.iter().all(|c| !c.path.contains("next_page_token")),
            "no page needed the token chain"
        );
        let numbered = calls
            .iter()
            .filter(|c| c.path.contains("page_number="))
            .count();
        assert_eq!(numbered, calls.len() - 1, "{n} users: pages 2.. by number");
    }
}

#[tokio::test]
async fn a_zoom_that_ignores_or_refuses_page_number_lists_the_same_by_token() {
    for mode in [PageNumbers::Ignored, PageNumbers::Rejected] {
        let sim = sim_with(SimUsers::List(all_active(1201)), mode, false).await;
        let (exit, emails) = list(&sim).await;
        assert_eq!(exit, Exit::Success, "{mode:?}");
        assert_eq!(
            emails,
            active(&sim),
            "{mode:?}: each user once, in page order"
        );
        let calls = list_calls(&sim);
        let chained = calls
            .iter()
            .filter(|c| c.path.contains("next_page_token="))
            .count();
        assert_eq!(chained, 4, "{mode:?}: pages 2 to 5 came by token");
        let numbered = calls
            .iter()
            .filter(|c| c.path.contains("page_number="))
            .count();
        assert!(
            (1..=4).contains(&numbered),
            "{mode:?}: at most the pages asked for behind page 1 were spent: {numbered}"
        );
        // The first check that fails ends the numbered pages: those still in flight are
        // dropped unanswered, so not every numbered call is answered.
        let refused = calls.iter().filter(|c| c.status == 400).count();
        match mode {
            PageNumbers::Rejected => assert!((1..=numbered).contains(&refused), "{refused}"),
            _ => assert_eq!(refused, 0, "{mode:?}"),
        }
    }
}

#[tokio::test]
async fn users_changing_between_pages_never_make_a_wrong_or_repeated_listing() {
    // Every 20th user is inactive, and before each page after the first one of them becomes
    // active again, so later users move down a place between numbered pages.
    let sim = sim_with(SimUsers::Generated(3000), PageNumbers::Served, true).await;
    let before = active(&sim);
    let (exit, emails) = list(&sim).await;
    assert_eq!(exit, Exit::Success);
    let after = active(&sim);
    assert!(after.len() > before.len(), "the users changed");
    let mut unique = emails.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), emails.len(), "no user twice");
    for e in &before {
        assert!(emails.contains(e), "{e}, active all along, is listed");
    }
    for e in &emails {
        assert!(after.contains(e), "{e} is listed and active");
    }
    let calls = list_calls(&sim);
    assert!(
        calls.iter().any(|c| c.path.contains("next_page_token=")),
        "the changed total_records sent the rest to the token chain"
    );
}
