//! Uploads not yet sent, held to a quota per person.

use chat_store::{NewUpload, PoolSize, Store, UnsentQuota, UploadRefused};
use chat_types::files::Attachment;
use chat_types::{FileId, UserId};

use crate::{each_database, group, user};

/// Unsent uploads fit a quota per person, decided in the upload's own transaction:
/// uploads arriving together cannot each see room for themselves.
#[tokio::test]
async fn unsent_uploads_fit_their_quota_even_when_they_arrive_together() {
    let quota = UnsentQuota {
        files: 3,
        bytes: 250,
        kept_for: chrono::TimeDelta::hours(1),
    };
    for db in each_database().await {
        let store = Store::connect(&db.url, PoolSize::default()).await.unwrap();
        let (ann, bo, eve) = (user(&store).await, user(&store).await, user(&store).await);
        let chat = group(&store, ann, &[bo]).await;
        let upload = |uploader: UserId, size: i64| NewUpload {
            chat_id: chat,
            uploader,
            file: Attachment {
                id: FileId::from(uuid::Uuid::now_v7()),
                name: "f.bin".into(),
                content_type: "application/octet-stream".into(),
                size,
                width: None,
                height: None,
            },
        };
        let together: Vec<_> = (0..6)
            .map(|_| {
                let (store, upload) = (store.clone(), upload(ann, 10));
                tokio::spawn(async move { store.record_upload(&upload, &quota).await })
            })
            .collect();
        let mut recorded = 0;
        for outcome in futures::future::join_all(together).await {
            match outcome.unwrap() {
                Ok(()) => recorded += 1,
                Err(UploadRefused::OverQuota(wait)) => {
                    assert!(wait <= std::time::Duration::from_secs(3600))
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(recorded, 3, "{:?}", store.backend());
        // Bytes count too, and are asked about before an upload is read.
        store.record_upload(&upload(bo, 200), &quota).await.unwrap();
        assert!(store.unsent_room(bo, 40, &quota).await.unwrap().is_none());
        assert!(store.unsent_room(bo, 60, &quota).await.unwrap().is_some());
        assert!(matches!(
            store.record_upload(&upload(bo, 60), &quota).await,
            Err(UploadRefused::OverQuota(_))
        ));
        // Someone outside the chat records nothing.
        assert!(matches!(
            store.record_upload(&upload(eve, 1), &quota).await,
            Err(UploadRefused::NotParticipant)
        ));
    }
}
