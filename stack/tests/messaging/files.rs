//! Files: uploaded to a sender, attached to a message in its own write, fetched from
//! any receiver by members of the chat only; refused uploads leave nothing behind.

use std::io::Cursor;
use std::sync::Arc;

use chat_types::ops;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::s3_server::S3Server;
use testkit::{Backend, TestEnv, database_tests};

use crate::support::{Person, System, message_added};

database_tests!(
    a_photo_reaches_the_other_member_with_its_thumbnail_and_without_its_metadata,
    only_members_fetch_a_file_and_only_its_uploader_before_it_is_sent,
    uploads_that_break_the_rules_are_refused_and_leave_nothing,
    a_message_carries_only_its_senders_unsent_uploads_of_its_chat,
    other_files_are_cards_served_as_downloads,
    deleting_a_message_deletes_its_files,
);

/// Runs `test` on PostgreSQL and Redis with every instance keeping files in a bucket of
/// a local S3-compatible server instead of the database.
async fn in_an_s3_bucket<F: Future<Output = ()>>(test: impl FnOnce(TestEnv) -> F) {
    let Some(server) = S3Server::start().await else {
        return;
    };
    let Some(mut env) = TestEnv::new(Backend::Real).await else {
        return;
    };
    env.keep_files_in(Arc::new(server.blobs(&env.bus_prefix)));
    test(env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_goes_through_an_s3_bucket() {
    in_an_s3_bucket(a_photo_reaches_the_other_member_with_its_thumbnail_and_without_its_metadata)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_leave_nothing_in_an_s3_bucket() {
    in_an_s3_bucket(uploads_that_break_the_rules_are_refused_and_leave_nothing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_message_deletes_its_objects_from_an_s3_bucket() {
    in_an_s3_bucket(deleting_a_message_deletes_its_files).await;
}

/// A JPEG with an EXIF segment that says where it was taken.
fn photo() -> Vec<u8> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    }));
    let mut plain = Cursor::new(Vec::new());
    image
        .write_to(&mut plain, image::ImageFormat::Jpeg)
        .unwrap();
    let plain = plain.into_inner();
    let exif = b"Exif\0\0GPS 59.9139 N 10.7522 E";
    let mut with = plain[..2].to_vec();
    with.extend_from_slice(&[0xFF, 0xE1]);
    with.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    with.extend_from_slice(exif);
    with.extend_from_slice(&plain[2..]);
    with
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Uploads `bytes` as `name` to `chat` through sender `instance`: the status and body.
async fn upload(
    system: &System,
    person: &Person,
    chat: &str,
    name: &str,
    bytes: Vec<u8>,
    instance: usize,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/files", system.senders[instance]))
        .query(&[("chatId", chat), ("name", name)])
        .bearer_auth(&person.token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Fetches `path` from receiver `instance` as `person` (anonymous without).
async fn fetch(
    system: &System,
    person: Option<&Person>,
    path: &str,
    instance: usize,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", system.receivers[instance]));
    if let Some(person) = person {
        request = request.bearer_auth(&person.token);
    }
    request.send().await.unwrap()
}

async fn send_files(person: &Person, chat: &str, content: &str, files: &[&str]) -> Value {
    person.senders[1]
        .data(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": content, "files": files } }),
        )
        .await["createMessage"]
        .clone()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

async fn a_photo_reaches_the_other_member_with_its_thumbnail_and_without_its_metadata(
    env: TestEnv,
) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let bo_socket = bo.socket(&system, 1).await;
    let mut to_bo = message_added(&bo_socket, &chat, None);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let (status, file) = upload(&system, &ann, &chat, "IMG_0042.jpg", photo(), 0).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["name"], "IMG_0042.jpg");
    assert_eq!(file["contentType"], "image/jpeg");
    assert_eq!(
        (file["width"].as_i64(), file["height"].as_i64()),
        (Some(640), Some(480))
    );
    let id = file["id"].as_str().unwrap();

    let sent = send_files(&ann, &chat, "", &[id]).await;
    assert_eq!(sent["content"], "");
    assert_eq!(sent["attachments"][0]["id"], id);
    let live = to_bo.next_data().await["messageAdded"].clone();
    assert_eq!(
        live["attachments"], sent["attachments"],
        "one event, files and all"
    );

    let got = fetch(&system, Some(&bo), &format!("/files/{id}"), 1).await;
    assert_eq!(got.status(), StatusCode::OK);
    let headers = got.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    let bytes = got.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, file["size"].as_i64().unwrap());
    assert!(!contains(&bytes, b"GPS"), "EXIF stripped");
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 640);

    let thumbnail = fetch(&system, Some(&bo), &format!("/files/{id}/thumbnail"), 0).await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (480, 360));

    // And in the history, for whoever reads it later.
    let history = bo.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(
        history["messages"]["messages"][0]["attachments"],
        sent["attachments"]
    );
}

async fn only_members_fetch_a_file_and_only_its_uploader_before_it_is_sent(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let (_, file) = upload(&system, &ann, &chat, "plan.txt", b"the plan".to_vec(), 1).await;
    let path = format!("/files/{}", file["id"].as_str().unwrap());

    assert_eq!(
        fetch(&system, Some(&ann), &path, 0).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        fetch(&system, Some(&bo), &path, 0).await.status(),
        StatusCode::NOT_FOUND,
        "not sent yet: the uploader's only"
    );
    send_files(&ann, &chat, "the plan", &[file["id"].as_str().unwrap()]).await;
    assert_eq!(
        fetch(&system, Some(&bo), &path, 1).await.status(),
        StatusCode::OK
    );
    let outsider = fetch(&system, Some(&cy), &path, 1).await;
    assert_eq!(outsider.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(&outsider.json().await.unwrap()), "NOT_FOUND");
    let anonymous = fetch(&system, None, &path, 1).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&anonymous.json().await.unwrap()), "UNAUTHENTICATED");
    assert_eq!(
        fetch(&system, Some(&bo), "/files/not-an-id", 1)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn uploads_that_break_the_rules_are_refused_and_leave_nothing(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let blobs = env.instance().await.blobs;
    let before = blobs.keys().await.unwrap().len();

    // Says it is too big: refused before a byte is read.
    let too_big = reqwest::Client::new()
        .post(format!("{}/files", system.senders[0]))
        .query(&[("chatId", chat.as_str()), ("name", "big.bin")])
        .bearer_auth(&ann.token)
        .header("content-length", (26 * 1024 * 1024).to_string())
        .body(vec![0u8; 1024])
        .send()
        .await;
    // The server may close the connection as it answers; it must not have kept it.
    if let Ok(response) = too_big {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Turns out too big, with no length given.
    let chunks =
        futures::stream::iter((0..27).map(|_| Ok::<_, std::io::Error>(vec![7u8; 1024 * 1024])));
    let streamed = reqwest::Client::new()
        .post(format!("{}/files", system.senders[0]))
        .query(&[("chatId", chat.as_str()), ("name", "big.bin")])
        .bearer_auth(&ann.token)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    if let Ok(response) = streamed {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(code(&response.json().await.unwrap()), "BAD_USER_INPUT");
    }
    let (status, body) = upload(&system, &cy, &chat, "x.txt", b"hi".to_vec(), 0).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "FORBIDDEN"),
        "not a member"
    );
    let (status, body) = upload(&system, &ann, &chat, "x.txt", Vec::new(), 0).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_USER_INPUT"),
        "empty"
    );
    let (status, body) = upload(&system, &ann, &chat, "  ", b"hi".to_vec(), 0).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_USER_INPUT"),
        "no name"
    );
    let (status, _) = upload(&system, &ann, "nope", "x.txt", b"hi".to_vec(), 0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let anonymous = reqwest::Client::new()
        .post(format!("{}/files", system.senders[0]))
        .query(&[("chatId", chat.as_str()), ("name", "x.txt")])
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(blobs.keys().await.unwrap().len(), before, "nothing kept");
}

async fn a_message_carries_only_its_senders_unsent_uploads_of_its_chat(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let cy = system.register("cy", 0).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let other_chat = ann.direct_chat(&cy, 0).await;
    let id = |file: &Value| file["id"].as_str().unwrap().to_string();
    let (_, anns) = upload(&system, &ann, &chat, "a.txt", b"a".to_vec(), 0).await;
    let (_, bos) = upload(&system, &bo, &chat, "b.txt", b"b".to_vec(), 0).await;
    let (_, elsewhere) = upload(&system, &ann, &other_chat, "c.txt", b"c".to_vec(), 0).await;

    let refused = |files: Vec<String>, content: &'static str| {
        let ann = &ann;
        let chat = chat.clone();
        async move {
            let error = ann.senders[0]
                .expect_code(
                    ops::CREATE_MESSAGE,
                    json!({ "input": { "chatId": chat, "content": content, "files": files } }),
                    "BAD_USER_INPUT",
                )
                .await;
            assert_eq!(error.field.as_deref(), Some("files"), "{files:?}");
        }
    };
    refused(vec![id(&bos)], "someone else's").await;
    refused(vec![id(&elsewhere)], "another chat's").await;
    refused(vec![id(&anns), id(&anns)], "twice").await;
    refused(vec![uuid::Uuid::new_v4().to_string()], "unknown").await;
    refused(vec![id(&anns); 11], "too many").await;
    let history = ann.receivers[0]
        .data(ops::MESSAGES, json!({ "chatId": chat }))
        .await;
    assert_eq!(
        history["messages"]["messages"],
        json!([]),
        "nothing written"
    );

    let sent = send_files(&ann, &chat, "here", &[&id(&anns)]).await;
    assert_eq!(sent["attachments"][0]["name"], "a.txt");
    refused(vec![id(&anns)], "already sent").await;
    // Without text, a message needs a file.
    ann.senders[0]
        .expect_code(
            ops::CREATE_MESSAGE,
            json!({ "input": { "chatId": chat, "content": " ", "files": [] } }),
            "BAD_USER_INPUT",
        )
        .await;
}

async fn other_files_are_cards_served_as_downloads(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let (status, file) = upload(&system, &ann, &chat, "../../invite \"x\".html", page, 0).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(file["name"], "invite x.html");
    assert_eq!(
        file["contentType"], "text/plain; charset=utf-8",
        "by its bytes"
    );
    assert_eq!(file["width"], Value::Null);
    let id = file["id"].as_str().unwrap();
    send_files(&ann, &chat, "", &[id]).await;
    let got = fetch(&system, Some(&bo), &format!("/files/{id}"), 0).await;
    let headers = got.headers();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''invite%20x.html"),
        "{disposition}"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(
        fetch(&system, Some(&bo), &format!("/files/{id}/thumbnail"), 0)
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "no thumbnail for text"
    );

    // Claims to be an image, is not: kept as opaque bytes.
    let (_, fake) = upload(
        &system,
        &ann,
        &chat,
        "cat.png",
        b"\x89PNG\r\n\x1a\nnot".to_vec(),
        0,
    )
    .await;
    assert_eq!(fake["contentType"], "application/octet-stream");
    assert_eq!(fake["width"], Value::Null);
}

async fn deleting_a_message_deletes_its_files(env: TestEnv) {
    let system = System::start(&env).await;
    let ann = system.register("ann", 0).await;
    let bo = system.register("bo", 1).await;
    let chat = ann.direct_chat(&bo, 0).await;
    let blobs = env.instance().await.blobs;
    let (_, file) = upload(&system, &ann, &chat, "photo.jpg", photo(), 0).await;
    let id = file["id"].as_str().unwrap();
    assert_eq!(
        blobs
            .keys()
            .await
            .unwrap()
            .iter()
            .filter(|k| k.starts_with(id))
            .count(),
        2,
        "the photo and its thumbnail"
    );
    let sent = send_files(&ann, &chat, "", &[id]).await;
    ann.senders[0]
        .data(ops::REMOVE_MESSAGE, json!({ "id": sent["id"] }))
        .await;
    assert_eq!(
        fetch(&system, Some(&bo), &format!("/files/{id}"), 0)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        !blobs
            .keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.starts_with(id)),
        "its bytes are gone"
    );
}
