//! The console's tables on SQLite and on PostgreSQL: operator accounts (replace, failures,
//! lock-out, unlock) and sessions (stored by hash, idle expiry, sign-out, ended when the
//! account changes).
#![allow(clippy::unwrap_used)]

use exchange_node::store::Store;

mpx_tests::on_both_backends!(
    accounts_count_failures_lock_and_unlock,
    sessions_expire_when_idle_and_end_with_their_account,
);

const MINUTE: i64 = 60_000;

async fn accounts_count_failures_lock_and_unlock(url: &str) {
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.operator_account("王芳").await.unwrap(), None);
    assert_eq!(
        store.record_failed_sign_in("nobody", 5, 1).await.unwrap(),
        0,
        "an unknown name has no account to count against"
    );
    store
        .put_operator_account("王芳", "clerk", "$argon2id$first", 1_000)
        .await
        .unwrap();
    for failures in 1..=4 {
        assert_eq!(
            store
                .record_failed_sign_in("王芳", 5, 99 * MINUTE)
                .await
                .unwrap(),
            failures
        );
        let account = store.operator_account("王芳").await.unwrap().unwrap();
        assert_eq!(
            account.locked_until_unix_ms, 0,
            "not locked after {failures}"
        );
    }
    assert_eq!(
        store
            .record_failed_sign_in("王芳", 5, 99 * MINUTE)
            .await
            .unwrap(),
        5
    );
    let locked = store.operator_account("王芳").await.unwrap().unwrap();
    assert_eq!(locked.locked_until_unix_ms, 99 * MINUTE);
    assert_eq!(locked.role, "clerk");

    assert!(store.clear_failed_sign_ins("王芳").await.unwrap());
    assert!(!store.clear_failed_sign_ins("nobody").await.unwrap());
    let unlocked = store.operator_account("王芳").await.unwrap().unwrap();
    assert_eq!(
        (unlocked.failed_sign_ins, unlocked.locked_until_unix_ms),
        (0, 0)
    );

    // Adding the same name again replaces role and password and lifts a lock.
    store
        .record_failed_sign_in("王芳", 1, 5 * MINUTE)
        .await
        .unwrap();
    store
        .put_operator_account("王芳", "viewer", "$argon2id$second", 2_000)
        .await
        .unwrap();
    let replaced = store.operator_account("王芳").await.unwrap().unwrap();
    assert_eq!(replaced.role, "viewer");
    assert_eq!(replaced.password_hash, "$argon2id$second");
    assert_eq!(replaced.locked_until_unix_ms, 0);
    store
        .put_operator_account("李明", "admin", "$argon2id$x", 3_000)
        .await
        .unwrap();
    let names: Vec<String> = store
        .operator_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"李明".to_string()) && names.contains(&"王芳".to_string()));
}

async fn sessions_expire_when_idle_and_end_with_their_account(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .put_operator_account("王芳", "clerk", "$argon2id$h", 0)
        .await
        .unwrap();
    store
        .create_console_session("hash-a", "王芳", "csrf-a", 10 * MINUTE)
        .await
        .unwrap();
    store
        .create_console_session("hash-b", "王芳", "csrf-b", 10 * MINUTE)
        .await
        .unwrap();

    // Used within the idle limit: live, with its role and CSRF token, and its use recorded.
    let live = store
        .touch_console_session("hash-a", 0, 20 * MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.previous_sign_in_unix_ms, 0, "the first sign-in");
    let second = store
        .touch_console_session("hash-b", 0, 20 * MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.previous_sign_in_unix_ms,
        10 * MINUTE,
        "the second session remembers the sign-in before it"
    );
    assert_eq!(
        (
            live.operator.as_str(),
            live.role.as_str(),
            live.csrf_token.as_str()
        ),
        ("王芳", "clerk", "csrf-a")
    );
    // Idle since before the limit: gone, and gone for good.
    assert_eq!(
        store
            .touch_console_session("hash-a", 21 * MINUTE, 51 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_console_session("hash-a", 0, 52 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_console_session("unknown", 0, 52 * MINUTE)
            .await
            .unwrap(),
        None
    );

    // Abandoned sessions are swept by age; live ones stay.
    store
        .create_console_session("hash-old", "王芳", "csrf-old", 5 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_idle_console_sessions(8 * MINUTE)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .touch_console_session("hash-old", 0, 9 * MINUTE)
            .await
            .unwrap(),
        None
    );

    // Sign-out ends one session; a new password ends the account's others.
    store
        .create_console_session("hash-c", "王芳", "csrf-c", 60 * MINUTE)
        .await
        .unwrap();
    store.delete_console_session("hash-c").await.unwrap();
    assert_eq!(
        store
            .touch_console_session("hash-c", 0, 61 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .touch_console_session("hash-b", 0, 11 * MINUTE)
            .await
            .unwrap()
            .is_some()
    );
    store
        .put_operator_account("王芳", "viewer", "$argon2id$new", 70 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        store
            .touch_console_session("hash-b", 0, 71 * MINUTE)
            .await
            .unwrap(),
        None,
        "a changed account's sessions end"
    );
}
