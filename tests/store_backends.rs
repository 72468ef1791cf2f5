//! The store on both real backends: SQLite in a temporary directory and the PostgreSQL server
//! on 127.0.0.1:5432 (database `test`). Each PostgreSQL test works in a schema of its own so
//! runs do not see each other's rows.

use rexian::store::accounts::Account;
use rexian::store::tokens::Role;
use rexian::store::{Store, StoreError};

pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&Store::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    (store, dir)
}

/// Creates a schema with a plain connection: the shared database's own schema is never
/// migrated, so branches with different migrations do not trip over each other there.
pub async fn create_schema(base: &str, schema: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(base)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .await
        .expect("schema");
    c.close().await.expect("close");
}

/// A fresh schema on the local PostgreSQL, selected through the connection's search_path.
pub async fn postgres_store() -> Store {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_schema(&base, &schema).await;
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    Store::open(&url).await.expect("open postgres schema")
}

fn account(id: &str) -> Account {
    Account {
        id: id.to_string(),
        name: Some("张三".to_string()),
        realm: "rexian".to_string(),
        ha1_md5: "0".repeat(32),
        ha1_sha256: "0".repeat(64),
        created_at: 0,
    }
}

async fn accounts_round_trip(store: &Store) {
    store.add_account(&account("7001")).await.unwrap();
    store.add_account(&account("7002")).await.unwrap();
    assert!(matches!(
        store.add_account(&account("7001")).await,
        Err(StoreError::Duplicate(_))
    ));
    let all = store.accounts().await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["7001", "7002"]
    );
    assert_eq!(
        store
            .account("7002")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("张三")
    );
    store.remove_account("7001").await.unwrap();
    assert!(store.account("7001").await.unwrap().is_none());
    assert!(matches!(
        store.remove_account("7001").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn tokens_verify_by_hash(store: &Store) {
    let t = store
        .create_token(Role::Supervisor, Some("s1"))
        .await
        .unwrap();
    let p = store.verify_token(&t).await.unwrap().expect("known token");
    assert_eq!(p.role, Role::Supervisor);
    assert_eq!(p.subject.as_deref(), Some("s1"));
    assert!(store
        .verify_token("rx_not_a_token")
        .await
        .unwrap()
        .is_none());
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&t), "the plain token must not be stored");
}

#[tokio::test]
async fn sqlite_accounts_add_list_remove_refuse_duplicates() {
    let (store, _dir) = sqlite_store().await;
    accounts_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_accounts_add_list_remove_refuse_duplicates() {
    accounts_round_trip(&postgres_store().await).await;
}

#[tokio::test]
async fn sqlite_tokens_are_kept_hashed() {
    let (store, _dir) = sqlite_store().await;
    tokens_verify_by_hash(&store).await;
}

#[tokio::test]
async fn postgres_tokens_are_kept_hashed() {
    tokens_verify_by_hash(&postgres_store().await).await;
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let (store, _dir) = sqlite_store().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_second_open_finds_the_schema_already_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(dir.path());
    Store::open(&url)
        .await
        .unwrap()
        .add_account(&account("7001"))
        .await
        .unwrap();
    let again = Store::open(&url).await.unwrap();
    assert_eq!(again.accounts().await.unwrap().len(), 1);
}
