//! Token verification: every request and every WebSocket's connection_init runs it.

use chat_types::UserId;
use criterion::{Criterion, criterion_group, criterion_main};
use server_core::auth::TokenKeys;
use server_core::secret::Secret;

fn bench(c: &mut Criterion) {
    let keys = TokenKeys::new(&Secret::generate());
    let user: UserId = uuid::Uuid::now_v7().into();
    let token = keys.issue(user, 1);
    let mut group = c.benchmark_group("session_token");
    group.bench_function("issue", |b| b.iter(|| keys.issue(user, 1)));
    group.bench_function("verify", |b| b.iter(|| keys.verify(&token).expect("valid")));
    let tampered = format!("{}x", &token[..token.len() - 1]);
    group.bench_function("verify (bad signature)", |b| {
        b.iter(|| keys.verify(&tampered).is_err())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
