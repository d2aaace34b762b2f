//! Attaching files: picked with the paper clip, dropped on the conversation or pasted
//! into the box. Each uploads at once, to the chosen sender, and shows as a chip —
//! uploading, ready, or what went wrong — until the next message takes the ready ones
//! (`chat_types::files`). Files already in messages show as thumbnails or cards.

use chat_types::ChatId;
use chat_types::files::{self, Attachment, THUMBNAIL_EDGE};
#[cfg(browser)]
use chat_types::files::{MAX_ATTACHMENTS, MAX_FILE_BYTES};
use leptos::prelude::*;

/// Where one file stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    Uploading,
    Ready(Attachment),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    key: u64,
    name: String,
    stage: Stage,
}

/// The files waiting to go with the next message of one chat.
#[derive(Clone, Copy)]
pub struct Uploads {
    list: RwSignal<Vec<Upload>>,
    // Used by uploading, in the browser only.
    #[cfg_attr(not(browser), allow(dead_code))]
    next_key: StoredValue<u64>,
    #[cfg_attr(not(browser), allow(dead_code))]
    chat: ChatId,
}

impl Uploads {
    pub fn new(chat: ChatId) -> Self {
        Self {
            list: RwSignal::new(Vec::new()),
            next_key: StoredValue::new(0),
            chat,
        }
    }

    /// Whether a file is still on its way (the message waits for it).
    pub fn busy(&self) -> bool {
        self.list
            .with(|list| list.iter().any(|u| u.stage == Stage::Uploading))
    }

    /// The files ready to go (tracked).
    pub fn ready(&self) -> Vec<Attachment> {
        self.list.with(|list| {
            list.iter()
                .filter_map(|u| match &u.stage {
                    Stage::Ready(file) => Some(file.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Forgets every chip (the message took the ready files).
    pub fn clear(&self) {
        self.list.set(Vec::new());
    }

    fn remove(&self, key: u64) {
        self.list.update(|list| list.retain(|u| u.key != key));
    }

    #[cfg(browser)]
    fn set(&self, key: u64, stage: Stage) {
        self.list.update(|list| {
            if let Some(upload) = list.iter_mut().find(|u| u.key == key) {
                upload.stage = stage;
            }
        });
    }

    /// Adds a chip for `name` at `stage`; returns its key.
    #[cfg(browser)]
    fn start(&self, name: String, stage: Stage) -> u64 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        self.list
            .update(|list| list.push(Upload { key, name, stage }));
        key
    }

    /// Uploads each of `files`, checked first against the limits the sender keeps.
    #[cfg(browser)]
    pub fn add(&self, client: &crate::api::Client, files: web_sys::FileList) {
        // Failed chips from earlier tries go: what is shown is about these files.
        self.list
            .update(|list| list.retain(|u| !matches!(u.stage, Stage::Failed(_))));
        for i in 0..files.length() {
            let Some(file) = files.item(i) else { continue };
            let name = file.name();
            let waiting = self.list.with_untracked(Vec::len);
            if waiting >= MAX_ATTACHMENTS {
                self.start(
                    name,
                    Stage::Failed(format!(
                        "At most {MAX_ATTACHMENTS} files go with one message."
                    )),
                );
                continue;
            }
            if file.size() > MAX_FILE_BYTES as f64 {
                self.start(
                    name,
                    Stage::Failed(format!(
                        "Over {}, the most a file may be.",
                        files::human_size(MAX_FILE_BYTES as i64)
                    )),
                );
                continue;
            }
            let key = self.start(name.clone(), Stage::Uploading);
            let url = format!(
                "{}/files?chatId={}&name={}",
                client.base_url(client.port(crate::config::Service::Sender)),
                self.chat,
                String::from(js_sys::encode_uri_component(&name)),
            );
            let uploads = *self;
            leptos::task::spawn_local(async move {
                let stage = match crate::browser::upload(&url, &file).await {
                    Some((201, body)) => match serde_json::from_str::<Attachment>(&body) {
                        Ok(file) => Stage::Ready(file),
                        Err(_) => Stage::Failed("The sender answered oddly; try again.".into()),
                    },
                    Some((_, body)) => Stage::Failed(refusal(&body)),
                    None => Stage::Failed(
                        "The sender did not answer; check the connection and try again.".into(),
                    ),
                };
                uploads.set(key, stage);
            });
        }
    }
}

/// What a refused upload's coded answer says.
#[cfg(browser)]
fn refusal(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "The upload failed; try again.".to_string())
}

/// The paper clip: picks files to attach.
#[component]
pub fn AttachButton(uploads: Uploads) -> impl IntoView {
    #[cfg(browser)]
    let on_change = {
        let client = crate::api::use_client();
        move |ev: leptos::ev::Event| {
            use wasm_bindgen::JsCast;
            let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            if let Some(files) = input.files() {
                uploads.add(&client, files);
            }
            // The same file picked again is a change again.
            input.set_value("");
        }
    };
    #[cfg(not(browser))]
    let on_change = move |_: leptos::ev::Event| {
        let _ = uploads;
    };
    view! {
        <label class="attach ghost" title="Attach files (or drop them here, or paste)">
            // Drawn, not an emoji: a machine without an emoji font showed an empty box.
            <svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18" fill="none"
                stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                <path d="M20.5 11.5l-8.4 8.4a5 5 0 0 1-7.1-7.1l8.8-8.8a3.3 3.3 0 0 1 4.7 4.7l-8.8 8.8a1.7 1.7 0 0 1-2.4-2.4l8.1-8.1"/>
            </svg>
            <span class="visually-hidden">"Attach files"</span>
            <input type="file" multiple class="visually-hidden" data-test="attach" on:change=on_change/>
        </label>
    }
}

/// The chips of the files waiting to go.
#[component]
pub fn PendingFiles(uploads: Uploads) -> impl IntoView {
    let chips = move || {
        uploads
            .list
            .get()
            .into_iter()
            .map(|upload| {
                let key = upload.key;
                let (class, status) = match &upload.stage {
                    Stage::Uploading => ("upload uploading", "uploading…".to_string()),
                    Stage::Ready(file) => ("upload ready", files::human_size(file.size)),
                    Stage::Failed(why) => ("upload failed", why.clone()),
                };
                let label = format!("Remove {}", upload.name);
                view! {
                    <li class=class data-test="pending-file">
                        <span class="upload-name">{upload.name}</span>
                        <span class="upload-status">{status}</span>
                        <button
                            type="button"
                            class="ghost small"
                            aria-label=label
                            on:click=move |_| uploads.remove(key)
                        >
                            "✕"
                        </button>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <Show when=move || uploads.list.with(|l| !l.is_empty())>
            <ul class="pending-files" aria-live="polite" aria-label="Files to send">{chips}</ul>
        </Show>
    }
}

/// A message's files: images as thumbnails that open the image, others as cards with
/// a download link. Served by the web tier from the chosen receiver, which lets only
/// members of the chat have them.
#[component]
pub fn Attachments(files: Vec<Attachment>) -> impl IntoView {
    (!files.is_empty()).then(|| {
        let items = files
            .into_iter()
            .map(|file| {
                let href = file.path();
                if file.is_image() {
                    let (w, h) = fitted(file.width.unwrap_or(1), file.height.unwrap_or(1));
                    view! {
                        <li class="file image">
                            <a href=href target="_blank" rel="noopener noreferrer" title=file.name.clone()>
                                <img
                                    src=file.thumbnail_path()
                                    alt=file.name.clone()
                                    width=w
                                    height=h
                                    loading="lazy"
                                    data-test="thumbnail"
                                />
                            </a>
                        </li>
                    }
                    .into_any()
                } else {
                    view! {
                        <li class="file">
                            <a class="file-card" href=href download=file.name.clone() data-test="file-card">
                                <svg class="file-icon" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none"
                                    stroke="currentColor" stroke-width="1.8" stroke-linejoin="round">
                                    <path d="M6 2.5h8l4 4v15H6z"/>
                                    <path d="M14 2.5v4h4"/>
                                </svg>
                                <span class="file-name">{file.name.clone()}</span>
                                <span class="file-size">{files::human_size(file.size)}</span>
                            </a>
                        </li>
                    }
                    .into_any()
                }
            })
            .collect_view();
        view! { <ul class="files">{items}</ul> }
    })
}

/// A thumbnail's size in pixels: the image fitted into the thumbnail's square.
fn fitted(width: i32, height: i32) -> (u32, u32) {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let scale = (f64::from(THUMBNAIL_EDGE) / w.max(h)).min(1.0);
    (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    )
}
