//! PostgreSQL over TLS, as managed databases require: `sslmode=verify-full` in the URL
//! and the CA that signed the server's certificate (`--database-ca`).

use chat_store::{PoolSize, Store, StoreConfig};
use testkit::pg_replica::PgReplica;
use testkit::tls::TestCa;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified_against_the_ca_given() {
    let Some(ca) = TestCa::new() else {
        return;
    };
    let Some(pg) = PgReplica::start_tls(&ca).await else {
        return;
    };
    let database = testkit::unique("chat_tls_");
    pg.create_database(&database).await;
    let url = format!("{}?sslmode=verify-full", pg.primary_url(&database));
    let read = format!("{}?sslmode=verify-full", pg.replica_url(&database));

    // A certificate the system does not trust is refused.
    assert!(Store::connect(&url, PoolSize::default()).await.is_err());
    // With its CA: connected (verify-full cannot be met without TLS), migrated, and
    // reading from the replica the same way.
    let store = Store::connect_with(&StoreConfig {
        url,
        size: PoolSize::default(),
        read_urls: vec![read],
        ca: Some(ca.ca.clone()),
    })
    .await
    .expect("PostgreSQL over TLS with the CA");
    store.ping().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.replicas().is_some_and(|r| r.usable() == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica over TLS is never read"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
