//! A receiver is killed with SIGKILL while messages flow: its clients reconnect to the
//! other receiver and resume with `afterSeq` = the last seq they saw, and end with every
//! message once, in order. Started again on the same port, it serves again.

use crate::support::{Options, WAIT_LIMIT, World, bounded, wait_live, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_receivers_clients_resume_on_the_other_without_loss() {
    bounded("receiver killed", async {
        let Some(mut world) = World::start(Options::default()).await else {
            return;
        };
        let group = world.group().await;
        let mut followers = vec![
            world.follow("bob@receiver0", &group.bob, &group.chat, 0),
            world.follow("carol@receiver0", &group.carol, &group.chat, 0),
            world.follow("bob@receiver1", &group.bob, &group.chat, 1),
            world.follow("carol@receiver1", &group.carol, &group.chat, 1),
        ];
        let traffic = world.traffic(&group, 2);
        wait_live(&followers, 20).await;

        let killed_pid = world.processes().receivers[0].pid();
        world.processes_mut().receivers[0].kill().await;
        let at_kill = traffic.sent();
        wait_until(
            "the killed receiver's clients are on the other receiver",
            WAIT_LIMIT,
            || followers[..2].iter().all(|f| f.connections() >= 2),
        )
        .await;
        traffic.wait_for_more("with one receiver", 60).await;
        wait_until(
            "the moved clients have caught up with messages sent after the kill",
            WAIT_LIMIT,
            || followers[..2].iter().all(|f| f.last() as usize > at_kill),
        )
        .await;

        // Back on the same port: a new client there gets everything from the start.
        world.processes_mut().receivers[0].restart().await;
        assert_ne!(world.processes().receivers[0].pid(), killed_pid);
        followers.push(world.follow("carol's phone@receiver0", &group.carol, &group.chat, 0));
        traffic
            .wait_for_more("after the receiver is back", 40)
            .await;
        let sent = traffic.finish().await;

        sent.assert_none_failed();
        let n = sent.count();
        let seen = world.check_history(&group, &sent, followers, 1).await;
        for moved in &seen[..2] {
            assert_eq!(
                moved.connections,
                [0, 1],
                "{} should have moved from receiver 0 to receiver 1 once: {:?}",
                moved.name,
                moved.interruptions
            );
        }
        for stayed in &seen[2..] {
            assert_eq!(
                stayed.connections.len(),
                1,
                "{} should not have reconnected: {:?}",
                stayed.name,
                stayed.interruptions
            );
        }
        eprintln!(
            "{n} messages, {} edits and reactions; receiver 0 killed after {at_kill}",
            sent.changes
        );
    })
    .await;
}
