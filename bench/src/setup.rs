//! The people and chats a run needs, made through the public API.

use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use serde_json::json;

use crate::client::{Http, RoundRobin, Targets};

/// A registered user.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub token: String,
}

/// A group chat and the people in it (indices into the people).
#[derive(Clone, Debug)]
pub struct Chat {
    pub id: String,
    pub members: Vec<usize>,
}

/// Registers `count` people (a few at a time: each registration hashes a password).
pub async fn people(
    http: &Http,
    targets: &Targets,
    tag: &str,
    count: usize,
) -> anyhow::Result<Vec<Person>> {
    let turn = Arc::new(RoundRobin::default());
    let results = futures::stream::iter(0..count)
        .map(|i| {
            let (http, turn) = (http.clone(), turn.clone());
            let username = format!("{tag}{i}");
            async move {
                let data = http
                    .call(
                        turn.pick(&targets.users),
                        None,
                        chat_types::ops::REGISTER,
                        json!({ "input": {
                            "username": username,
                            "email": format!("{username}@bench.example"),
                            "displayName": format!("Bench {i}"),
                            "password": "bench password",
                        }}),
                        "register",
                    )
                    .await
                    .with_context(|| format!("registering {username}"))?;
                Ok::<_, anyhow::Error>(Person {
                    id: data["user"]["id"].as_str().context("user id")?.to_string(),
                    token: data["token"].as_str().context("token")?.to_string(),
                })
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect()
}

/// Creates `count` groups of `size` people each, spread over everyone.
pub async fn groups(
    http: &Http,
    targets: &Targets,
    people: &[Person],
    count: usize,
    size: usize,
) -> anyhow::Result<Vec<Chat>> {
    let size = size.clamp(1, people.len());
    let turn = Arc::new(RoundRobin::default());
    let results = futures::stream::iter(0..count)
        .map(|c| {
            let (http, turn) = (http.clone(), turn.clone());
            // Consecutive people, starting at a different one for each chat.
            let members: Vec<usize> = (0..size).map(|j| (c * size + j) % people.len()).collect();
            async move {
                let owner = &people[members[0]];
                let others: Vec<&str> = members[1..].iter().map(|m| people[*m].id.as_str()).collect();
                let data = http
                    .call(
                        turn.pick(&targets.senders),
                        Some(&owner.token),
                        chat_types::ops::CREATE_CHAT,
                        json!({ "input": { "kind": "GROUP", "name": format!("bench {c}"), "participantIds": others } }),
                        "createChat",
                    )
                    .await
                    .context("creating a chat")?;
                Ok::<_, anyhow::Error>(Chat {
                    id: data["id"].as_str().context("chat id")?.to_string(),
                    members,
                })
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect()
}

/// Every member of `chats` but its creator accepts it: groups of people who never
/// talked are requests, and people see each other's presence only once they accept.
pub async fn accept_all(
    http: &Http,
    targets: &Targets,
    people: &[Person],
    chats: &[Chat],
) -> anyhow::Result<()> {
    let turn = Arc::new(RoundRobin::default());
    let acceptances = chats
        .iter()
        .flat_map(|chat| chat.members[1..].iter().map(move |m| (chat, *m)));
    let results = futures::stream::iter(acceptances)
        .map(|(chat, member)| {
            let (http, turn) = (http.clone(), turn.clone());
            async move {
                http.call(
                    turn.pick(&targets.senders),
                    Some(&people[member].token),
                    chat_types::ops::ACCEPT_CHAT,
                    json!({ "chatId": chat.id }),
                    "acceptChat",
                )
                .await
                .context("accepting a chat")
            }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().try_for_each(|r| r.map(drop))
}
