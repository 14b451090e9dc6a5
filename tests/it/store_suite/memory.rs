//! An in-memory SQLite database past memdb's default size limit.

use super::*;

/// An in-memory database lives in SQLite's `memdb` VFS, whose size limit is 1 GiB unless SQLite is
/// built with another (`.cargo/config.toml`): past it every write would fail with "database or
/// disk is full". 1,100 health messages of 1 MiB each take it past 1 GiB, and every one is kept.
#[tokio::test]
async fn an_in_memory_database_grows_past_one_gib() {
    let store = SqliteStore::open("sqlite::memory:")
        .await
        .expect("the in-memory store opens");
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let body = "x".repeat(1 << 20);
    for i in 0..1_100 {
        store
            .insert_health(&"tenant-a".into(), &"c1".into(), T0 + i, &body, 0)
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let kept = store
        .list_health(&"tenant-a".into(), &"c1".into(), 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1_100);
    assert!(kept.iter().all(|(_, b)| b.len() == 1 << 20));
}
