//! A sender is killed with SIGKILL in the middle of a send: the client gets no answer
//! (or is refused) and sends the same message again, with the same clientId, through
//! the other sender. The chat ends with exactly the messages sent: none lost (the one
//! in flight is there) and none twice (a retry of a message the killed sender had
//! already stored returns that message, and subscribers do not see it twice).

use std::time::Instant;

use chat_types::ops;

use crate::support::{
    Answer, Attempt, Options, WAIT_LIMIT, World, bounded, message_input, wait_live, wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cut_off_by_a_killed_sender_is_retried_once_on_the_other() {
    bounded("sender killed", async {
        let Some(mut world) = World::start(Options::default()).await else {
            return;
        };
        let group = world.group().await;
        let followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;
        traffic.wait_for_more("before the kill", 20).await;

        // Kill it while it is handling a send.
        wait_until("a send is in flight to sender 0", WAIT_LIMIT, || {
            traffic.in_flight(0) > 0
        })
        .await;
        let killed_at = Instant::now();
        world.processes_mut().senders[0].kill().await;
        let at_kill = traffic.sent();
        // Sends the killed sender answered may as well have lost their answers: sent
        // again through the other sender, each is the message already stored.
        let answered: Vec<Attempt> = traffic
            .attempts()
            .into_iter()
            .filter(|a| a.sender == 0 && a.seq().is_some())
            .rev()
            .take(3)
            .collect();
        for original in &answered {
            let again = world
                .request(
                    &world.processes().senders[1].url(),
                    &group.alice,
                    ops::CREATE_MESSAGE,
                    message_input(&group.chat, &original.client_id),
                )
                .await;
            let (before, after) = (original.answer.message().unwrap(), again.message());
            assert_eq!(
                after.map(|m| (&m["id"], &m["seq"])),
                Some((&before["id"], &before["seq"])),
                "{} sent again: {again:?}",
                original.client_id
            );
        }
        traffic.wait_for_more("with one sender", 60).await;

        world.processes_mut().senders[0].restart().await;
        let restarted_at = Instant::now();
        traffic.wait_for_more("after the sender is back", 40).await;
        // Lanes leave a sender that did not answer alone for a while, then use it again.
        wait_until("the restarted sender takes sends again", WAIT_LIMIT, || {
            traffic
                .attempts()
                .iter()
                .any(|a| a.sender == 0 && a.started > restarted_at && a.seq().is_some())
        })
        .await;
        let sent = traffic.finish().await;

        // Only sends to the killed sender failed, for want of an answer, and each was
        // then sent through the other one.
        let failures = sent.failures();
        assert!(!failures.is_empty(), "no send was cut off by the kill");
        for failure in &failures {
            assert_eq!(failure.sender, 0, "a send to the live sender failed: {failure:?}");
            assert!(
                matches!(failure.answer, Answer::None(_)),
                "the killed sender answered: {failure:?}"
            );
            assert!(
                failure.started < restarted_at,
                "a send failed after the sender was back: {failure:?}"
            );
            let retry = sent
                .attempts
                .iter()
                .find(|a| a.client_id == failure.client_id && a.started > failure.started)
                .expect("the failed send was tried again");
            assert_eq!(retry.sender, 1, "retried on the other sender");
        }
        let cut_off = failures.iter().filter(|f| f.started < killed_at).count();
        assert!(
            sent.attempts
                .iter()
                .any(|a| a.sender == 0 && a.started > restarted_at && a.seq().is_some()),
            "the restarted sender took sends again"
        );

        let n = sent.count();
        world.check_history(&group, &sent, followers, 0).await;
        eprintln!(
            "{n} messages, {} edits and reactions; sender 0 killed after {at_kill}; {cut_off} send(s) in flight cut off, {} refused",
            sent.changes,
            failures.len() - cut_off
        );
    })
    .await;
}
