//! The seven bugs of issue 17, each with the test that shows it: written before the fix, failing
//! on the code that had the bug.

use crate::common::bin::Bin;

/// Bug 5: the message for missing credentials has no run of spaces from a broken line
/// continuation.
#[tokio::test]
async fn bug5_users_without_credentials_says_so_in_one_clean_line() {
    let out = Bin::new()
        .args(["users", "--config", "/dev/null"])
        .env_remove("ZOOM_ACCOUNT_ID")
        .env_remove("ZOOM_CLIENT_ID")
        .env_remove("ZOOM_CLIENT_SECRET")
        .env_remove("ZOOM_ACCESS_TOKEN")
        .run()
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("ZOOM_ACCESS_TOKEN"), "{}", out.stderr);
    assert!(!out.stderr.contains("  "), "{:?}", out.stderr);
}
