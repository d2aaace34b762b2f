use super::*;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn send(chat: u128, sender: u128, client: Option<&str>) -> NewMessage {
    NewMessage {
        chat_id: id(chat).into(),
        sender_id: id(sender).into(),
        content: "hi".into(),
        client_id: client.map(str::to_string),
        reply_to: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    }
}

fn world() -> Before {
    let mut before = Before::default();
    before.last_seq.insert(id(1).into(), 10);
    before.last_seq.insert(id(2).into(), 0);
    before.last_event_seq.insert(id(1).into(), 3);
    before.last_event_seq.insert(id(2).into(), 1);
    before
        .members
        .insert(id(1).into(), [id(7).into(), id(8).into()].into());
    before.members.insert(id(2).into(), [id(7).into()].into());
    before
}

fn seqs(plan: &Plan) -> Vec<Option<i64>> {
    plan.outcomes
        .iter()
        .map(|o| match o {
            StoredMessage::Created(m) | StoredMessage::Existing(m) => Some(m.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn seqs_follow_batch_order_within_each_chat() {
    let mut n = 100;
    let plan = plan(
        &[
            send(1, 7, None),
            send(2, 7, None),
            send(1, 8, None),
            send(1, 7, None),
        ],
        world(),
        Utc::now(),
        || {
            n += 1;
            id(n)
        },
    );
    assert_eq!(seqs(&plan), [Some(11), Some(1), Some(12), Some(13)]);
    assert_eq!(plan.chats, [(id(1).into(), 13), (id(2).into(), 1)]);
    // In chat 1, user 7's newest is 13 and user 8's is 12.
    assert!(plan.senders.contains(&(id(1).into(), id(7).into(), 13)));
    assert!(plan.senders.contains(&(id(1).into(), id(8).into(), 12)));
}

#[test]
fn unread_is_the_new_end_minus_the_moved_watermark() {
    let before = world();
    let plan = plan(
        &[send(1, 7, None), send(1, 8, None), send(1, 7, None)],
        before,
        Utc::now(),
        Uuid::now_v7,
    );
    // Before the batch, chat 1 ended at 10: 7 had read it all, 8 up to 4, and 9
    // (who joined with nothing else in the batch) up to 10.
    let watermarks: Watermarks = [(
        id(1).into(),
        vec![(id(7).into(), 10), (id(8).into(), 4), (id(9).into(), 10)],
    )]
    .into();
    let written = finish(WrittenBatch::default(), &plan, &watermarks, Utc::now());
    let mut unread: Vec<(UserId, i64, i64)> = written
        .unread
        .iter()
        .map(|u| (u.user_id, u.unread_count, u.last_read_seq))
        .collect();
    unread.sort();
    // 7 wrote 13 (the end), 8 wrote 12 and has 13 to read, 9 has 11..=13.
    assert_eq!(
        unread,
        [
            (id(7).into(), 0, 13),
            (id(8).into(), 1, 12),
            (id(9).into(), 3, 10)
        ]
    );
    assert_eq!(written.reads.len(), 2);
}

#[test]
fn retries_strangers_and_unknown_chats_take_no_seq() {
    let mut before = world();
    let earlier = Arc::new(Message {
        id: id(50).into(),
        chat_id: id(1).into(),
        seq: 4,
        sender_id: id(7).into(),
        content: "hi".into(),
        client_id: Some("a".into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted_at: None,
        after_event_seq: 0,
        reply_to: None,
        reactions: Vec::new(),
        pinned_at: None,
        mentions: Vec::new(),
        mentions_all: false,
        attachments: Vec::new(),
    });
    before
        .existing
        .insert((id(1).into(), id(7).into(), "a".into()), earlier.clone());
    let plan = plan(
        &[
            send(1, 7, Some("a")),
            send(1, 9, None),
            send(3, 7, None),
            send(1, 7, Some("b")),
            send(1, 7, Some("b")),
            NewMessage {
                content: "other text".into(),
                ..send(1, 7, Some("b"))
            },
        ],
        before,
        Utc::now(),
        Uuid::now_v7,
    );
    assert_eq!(plan.outcomes[0], StoredMessage::Existing(earlier));
    assert_eq!(plan.outcomes[1], StoredMessage::NotParticipant);
    assert_eq!(plan.outcomes[2], StoredMessage::ChatNotFound);
    assert_eq!(seqs(&plan)[3..5], [Some(11), Some(11)]);
    assert_eq!(plan.outcomes[5], StoredMessage::ClientIdReused);
    assert_eq!(plan.fresh.len(), 1);
}

#[test]
fn new_messages_come_after_their_chats_last_logged_change() {
    let plan = plan(
        &[send(1, 7, None), send(2, 7, None), send(1, 8, None)],
        world(),
        Utc::now(),
        Uuid::now_v7,
    );
    let positions: Vec<(i64, i64)> = plan
        .fresh
        .iter()
        .map(|m| (m.seq, m.after_event_seq))
        .collect();
    assert_eq!(positions, [(11, 3), (1, 1), (12, 3)]);
}

#[test]
fn a_file_goes_with_one_message_only() {
    let file = |n: u128| Attachment {
        id: id(n).into(),
        name: format!("f{n}.txt"),
        content_type: "text/plain".into(),
        size: 1,
        width: None,
        height: None,
    };
    let with = |files: Vec<Attachment>| NewMessage {
        attachments: files,
        ..send(1, 7, None)
    };
    let mut n = 100;
    let mut before = world();
    before.taken.insert(id(60).into());
    let plan = plan(
        &[
            with(vec![file(50), file(51)]),
            with(vec![file(51)]),
            with(vec![file(60)]),
            with(vec![file(52)]),
        ],
        before,
        Utc::now(),
        || {
            n += 1;
            id(n)
        },
    );
    assert_eq!(seqs(&plan), [Some(11), None, None, Some(12)]);
    assert!(
        matches!(plan.outcomes[1], StoredMessage::FilesTaken),
        "taken earlier in the batch"
    );
    assert!(
        matches!(plan.outcomes[2], StoredMessage::FilesTaken),
        "taken before it"
    );
    assert_eq!(
        plan.files(),
        [
            (id(50), id(101), 0),
            (id(51), id(101), 1),
            (id(52), id(102), 0)
        ]
    );
}
