//! Two instances of each service over one test world, and a few helpers.

use chat_types::ops;
use serde_json::{Value, json};
use server_core::ServiceState;
use server_core::limits::Limits;
use testkit::ws::Subscription;
use testkit::{Gql, Protocol, TestEnv, WsClient, spawn, unique};

/// Base URLs of two instances of each service.
pub(crate) struct System {
    pub(crate) users: [String; 2],
    pub(crate) senders: [String; 2],
    pub(crate) receivers: [String; 2],
}

impl System {
    /// Starts all six instances, each with its own connections on the real backend.
    pub(crate) async fn start(env: &TestEnv) -> Self {
        let mut states = Vec::new();
        for _ in 0..6 {
            states.push(env.instance().await);
        }
        Self::on(states).await
    }

    /// The six instances: users without limits, senders and receivers with the given
    /// ones.
    pub(crate) async fn with_limits(env: &TestEnv, senders: Limits, receivers: Limits) -> Self {
        let mut states = Vec::new();
        for limits in [
            Limits::off(),
            Limits::off(),
            senders,
            senders,
            receivers,
            receivers,
        ] {
            states.push(env.instance_with_limits(limits).await);
        }
        Self::on(states).await
    }

    /// Starts the six instances on the given states (user, user, sender, sender,
    /// receiver, receiver).
    pub(crate) async fn on(states: Vec<ServiceState>) -> Self {
        let mut states = states.into_iter();
        let mut next = || states.next().expect("six states");
        Self {
            users: [
                spawn(server_user::build_router(next())).await,
                spawn(server_user::build_router(next())).await,
            ],
            senders: [
                spawn(server_sender::build_router(next())).await,
                spawn(server_sender::build_router(next())).await,
            ],
            receivers: [
                spawn(server_receiver::build_router(next())).await,
                spawn(server_receiver::build_router(next())).await,
            ],
        }
    }

    /// Registers a fresh user on user instance `instance`.
    pub(crate) async fn register(&self, name: &str, instance: usize) -> Person {
        let user = testkit::gql::register(&self.users[instance], name).await;
        let token = user.token;
        Person {
            id: user.id,
            token: token.clone(),
            senders: [
                Gql::new(&self.senders[0]).with_token(&token),
                Gql::new(&self.senders[1]).with_token(&token),
            ],
            receivers: [
                Gql::new(&self.receivers[0]).with_token(&token),
                Gql::new(&self.receivers[1]).with_token(&token),
            ],
        }
    }
}

/// A signed-in user and their clients for each sender and receiver instance.
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) senders: [Gql; 2],
    pub(crate) receivers: [Gql; 2],
}

impl Person {
    /// A WebSocket to receiver `instance`.
    pub(crate) async fn socket(&self, system: &System, instance: usize) -> WsClient {
        WsClient::connect(
            &system.receivers[instance],
            Some(&self.token),
            Protocol::TransportWs,
        )
        .await
        .expect("WebSocket connects")
    }

    /// A direct chat with `other`, created through sender `instance`, which `other`
    /// accepts: the two talk as people who know each other do ([`Person::request`]
    /// leaves it a request).
    pub(crate) async fn direct_chat(&self, other: &Person, instance: usize) -> String {
        let chat = self.request(other, instance).await;
        other.accept(&chat, instance).await;
        chat
    }

    /// A direct chat with `other`, created through sender `instance`: a request to them
    /// unless they have talked before.
    pub(crate) async fn request(&self, other: &Person, instance: usize) -> String {
        let data = self.senders[instance]
            .data(
                ops::CREATE_CHAT,
                json!({ "input": { "kind": "DIRECT", "participantIds": [other.id] } }),
            )
            .await;
        data["createChat"]["id"].as_str().unwrap().to_string()
    }

    /// A group with `others`, created through sender 0, which each of them accepts.
    pub(crate) async fn group(&self, name: &str, others: &[&Person]) -> String {
        let ids: Vec<&str> = others.iter().map(|p| p.id.as_str()).collect();
        let data = self.senders[0]
            .data(
                ops::CREATE_CHAT,
                json!({ "input": { "kind": "GROUP", "name": name, "participantIds": ids } }),
            )
            .await;
        let chat = data["createChat"]["id"].as_str().unwrap().to_string();
        for other in others {
            other.accept(&chat, 0).await;
        }
        chat
    }

    /// Accepts `chat` (a request, or one accepted already) through sender `instance`.
    pub(crate) async fn accept(&self, chat: &str, instance: usize) {
        self.senders[instance]
            .data(ops::ACCEPT_CHAT, json!({ "chatId": chat }))
            .await;
    }

    /// Sends a message through sender `instance`; returns it.
    pub(crate) async fn send(&self, chat: &str, content: &str, instance: usize) -> Value {
        let data = self.senders[instance]
            .data(
                ops::CREATE_MESSAGE,
                json!({ "input": { "chatId": chat, "content": content, "clientId": unique("c-") } }),
            )
            .await;
        data["createMessage"].clone()
    }

    /// Marks the whole chat read through sender `instance`.
    pub(crate) async fn mark_read(&self, chat: &str, instance: usize) {
        self.senders[instance]
            .data(ops::MARK_AS_READ, json!({ "chatId": chat }))
            .await;
    }
}

/// Subscribes to `messageAdded` on `chat`.
pub(crate) fn message_added(socket: &WsClient, chat: &str, after_seq: Option<i64>) -> Subscription {
    socket.subscribe(
        ops::MESSAGE_ADDED,
        json!({ "chatId": chat, "afterSeq": after_seq }),
    )
}

/// Reads `count` messages from a `messageAdded` subscription; returns their seqs.
pub(crate) async fn collect_seqs(subscription: &mut Subscription, count: usize) -> Vec<i64> {
    let mut seqs = Vec::with_capacity(count);
    while seqs.len() < count {
        let data = subscription.next_data().await;
        seqs.push(data["messageAdded"]["seq"].as_i64().unwrap());
    }
    seqs
}
