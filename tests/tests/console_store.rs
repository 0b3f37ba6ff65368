//! The consoles' accounts and sessions (`console_kit::accounts`) on SQLite and on PostgreSQL,
//! over each service's own database — the county node's (migration 0012) and the registry's
//! (0009, 0010): operator accounts (replace, failures, lock-out, unlock), sessions (stored by
//! hash, idle expiry, sign-out, ended when the account changes) and the sign-in built on them.
#![allow(clippy::unwrap_used)]

use console_kit::accounts::{Accounts, SignIn};
use console_kit::session::stored_session_id;

mpx_tests::on_both_backends!(
    node_accounts_count_failures_lock_and_unlock,
    node_sessions_expire_when_idle_and_end_with_their_account,
    registry_accounts_count_failures_lock_and_unlock,
    registry_sessions_expire_when_idle_and_end_with_their_account,
    sign_in_locks_at_the_limit_and_remembers_the_last_visit,
);

async fn node_accounts_count_failures_lock_and_unlock(url: &str) {
    let store = exchange_node::store::Store::connect(url).await.unwrap();
    accounts_count_failures_lock_and_unlock(Accounts::new(store.database()), "clerk").await;
}

async fn node_sessions_expire_when_idle_and_end_with_their_account(url: &str) {
    let store = exchange_node::store::Store::connect(url).await.unwrap();
    sessions_expire_when_idle_and_end_with_their_account(Accounts::new(store.database()), "clerk")
        .await;
}

async fn registry_accounts_count_failures_lock_and_unlock(url: &str) {
    let store = registry::store::Store::connect(url).await.unwrap();
    accounts_count_failures_lock_and_unlock(Accounts::new(store.database()), "supervisor").await;
}

async fn registry_sessions_expire_when_idle_and_end_with_their_account(url: &str) {
    let store = registry::store::Store::connect(url).await.unwrap();
    sessions_expire_when_idle_and_end_with_their_account(
        Accounts::new(store.database()),
        "supervisor",
    )
    .await;
}

/// The sign-in itself, with real argon2id hashes, on the registry's tables: an unknown name and
/// a wrong password are the same answer; the fifth failure in a row locks the account (said
/// once, as `LockedNow`, for the security record), then even the right password meets the lock
/// until it lifts; a good sign-in clears the count, stores the session by the hash of its id and
/// remembers the sign-in before it.
async fn sign_in_locks_at_the_limit_and_remembers_the_last_visit(url: &str) {
    let store = registry::store::Store::connect(url).await.unwrap();
    let accounts = Accounts::new(store.database());
    const PASSWORD: &str = "省级平台测试口令-2026";
    let (name, role): (String, registry::console::auth::Role) = accounts
        .put_operator(" 李督导 ", "supervisor", PASSWORD, 0)
        .await
        .unwrap();
    assert_eq!((name.as_str(), role.label()), ("李督导", "supervisor"));
    let refused = accounts
        .put_operator::<registry::console::auth::Role>("王芳", "clerk", PASSWORD, 0)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "role: supervisor, viewer or admin",
        "a county role is not the registry's"
    );

    let idle = 30 * MINUTE;
    assert_eq!(
        accounts
            .sign_in("无此人", PASSWORD, MINUTE, idle)
            .await
            .unwrap(),
        SignIn::WrongNameOrPassword
    );
    for _ in 1..console_kit::password::LOCK_AFTER_FAILURES {
        assert_eq!(
            accounts
                .sign_in("李督导", "wrong", MINUTE, idle)
                .await
                .unwrap(),
            SignIn::WrongNameOrPassword
        );
    }
    assert_eq!(
        accounts
            .sign_in("李督导", "wrong", MINUTE, idle)
            .await
            .unwrap(),
        SignIn::LockedNow {
            failures: console_kit::password::LOCK_AFTER_FAILURES
        }
    );
    assert_eq!(
        accounts
            .sign_in("李督导", PASSWORD, 2 * MINUTE, idle)
            .await
            .unwrap(),
        SignIn::Locked,
        "the right password meets the lock"
    );
    let after_lock = MINUTE + console_kit::password::LOCK_MINUTES * MINUTE + 1;
    let SignIn::Session(first) = accounts
        .sign_in("李督导", PASSWORD, after_lock, idle)
        .await
        .unwrap()
    else {
        panic!("the lock has lifted")
    };
    assert_eq!(
        accounts
            .account("李督导")
            .await
            .unwrap()
            .unwrap()
            .failed_sign_ins,
        0
    );
    let SignIn::Session(second) = accounts
        .sign_in("李督导", PASSWORD, after_lock + MINUTE, idle)
        .await
        .unwrap()
    else {
        panic!("signs in again")
    };
    assert_ne!(first, second);
    let session = accounts
        .touch_session(&stored_session_id(&second), 0, after_lock + 2 * MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.previous_sign_in_unix_ms, after_lock);
    assert!(
        accounts
            .touch_session(&second, 0, after_lock + 2 * MINUTE)
            .await
            .unwrap()
            .is_none(),
        "the id itself is not what is stored"
    );
    assert!(
        accounts
            .session_is_live(&stored_session_id(&first), after_lock)
            .await
            .unwrap()
    );
}

const MINUTE: i64 = 60_000;

async fn accounts_count_failures_lock_and_unlock(store: Accounts<'_>, role: &str) {
    assert_eq!(store.account("王芳").await.unwrap(), None);
    assert_eq!(
        store.record_failed_sign_in("nobody", 5, 1).await.unwrap(),
        0,
        "an unknown name has no account to count against"
    );
    store
        .put_account("王芳", role, "$argon2id$first", 1_000)
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
        let account = store.account("王芳").await.unwrap().unwrap();
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
    let locked = store.account("王芳").await.unwrap().unwrap();
    assert_eq!(locked.locked_until_unix_ms, 99 * MINUTE);
    assert_eq!(locked.role, role);

    assert!(store.clear_failed_sign_ins("王芳").await.unwrap());
    assert!(!store.clear_failed_sign_ins("nobody").await.unwrap());
    let unlocked = store.account("王芳").await.unwrap().unwrap();
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
        .put_account("王芳", "viewer", "$argon2id$second", 2_000)
        .await
        .unwrap();
    let replaced = store.account("王芳").await.unwrap().unwrap();
    assert_eq!(replaced.role, "viewer");
    assert_eq!(replaced.password_hash, "$argon2id$second");
    assert_eq!(replaced.locked_until_unix_ms, 0);
    store
        .put_account("李明", "admin", "$argon2id$x", 3_000)
        .await
        .unwrap();
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"李明".to_string()) && names.contains(&"王芳".to_string()));
}

async fn sessions_expire_when_idle_and_end_with_their_account(store: Accounts<'_>, role: &str) {
    store
        .put_account("王芳", role, "$argon2id$h", 0)
        .await
        .unwrap();
    store
        .create_session("hash-a", "王芳", "csrf-a", 10 * MINUTE)
        .await
        .unwrap();
    store
        .create_session("hash-b", "王芳", "csrf-b", 10 * MINUTE)
        .await
        .unwrap();

    // Used within the idle limit: live, with its role and CSRF token, and its use recorded.
    let live = store
        .touch_session("hash-a", 0, 20 * MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.previous_sign_in_unix_ms, 0, "the first sign-in");
    let second = store
        .touch_session("hash-b", 0, 20 * MINUTE)
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
        ("王芳", role, "csrf-a")
    );
    // Idle since before the limit: gone, and gone for good.
    assert_eq!(
        store
            .touch_session("hash-a", 21 * MINUTE, 51 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.touch_session("hash-a", 0, 52 * MINUTE).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_session("unknown", 0, 52 * MINUTE)
            .await
            .unwrap(),
        None
    );

    // Abandoned sessions are swept by age; live ones stay.
    store
        .create_session("hash-old", "王芳", "csrf-old", 5 * MINUTE)
        .await
        .unwrap();
    assert_eq!(store.delete_idle_sessions(8 * MINUTE).await.unwrap(), 1);
    assert_eq!(
        store
            .touch_session("hash-old", 0, 9 * MINUTE)
            .await
            .unwrap(),
        None
    );

    // Sign-out ends one session; a new password ends the account's others.
    store
        .create_session("hash-c", "王芳", "csrf-c", 60 * MINUTE)
        .await
        .unwrap();
    store.delete_session("hash-c").await.unwrap();
    assert_eq!(
        store.touch_session("hash-c", 0, 61 * MINUTE).await.unwrap(),
        None
    );
    assert!(
        store
            .touch_session("hash-b", 0, 11 * MINUTE)
            .await
            .unwrap()
            .is_some()
    );
    store
        .put_account("王芳", "viewer", "$argon2id$new", 70 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        store.touch_session("hash-b", 0, 71 * MINUTE).await.unwrap(),
        None,
        "a changed account's sessions end"
    );
}
