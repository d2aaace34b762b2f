//! The instance picker: which user, sender and receiver instance this page talks to,
//! whether each is up, and which receiver the live connection is on. On a phone it
//! folds into one button. A receiver the live connection cannot reach shows as down
//! here and in the status line alike.

use leptos::prelude::*;

use crate::api::use_client;
use crate::config::Service;
use crate::live::{LiveStatus, use_live};

/// How often the instances' `/healthz` is checked.
#[cfg(browser)]
const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Up or down, per port; unknown until first checked (in the browser).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(browser), allow(dead_code))]
enum Health {
    Unknown,
    Up,
    Down,
}

fn health_of(known: &[(u16, Health)], port: u16) -> Health {
    known
        .iter()
        .find(|(p, _)| *p == port)
        .map_or(Health::Unknown, |(_, h)| *h)
}

/// The live connection knows first: a receiver it is connected to is up, one it keeps
/// failing to reach is down, whatever the last health check said.
fn with_live(status: LiveStatus, port: u16, checked: Health) -> Health {
    match status {
        LiveStatus::Connected(p) if p == port => Health::Up,
        LiveStatus::Reconnecting(p) if p == port => Health::Down,
        _ => checked,
    }
}

#[component]
pub fn InstancePicker() -> impl IntoView {
    let client = use_client();
    let live = use_live();
    let health = RwSignal::new(Vec::<(u16, Health)>::new());
    let unfolded = RwSignal::new(false);
    #[cfg(browser)]
    {
        let ports: Vec<u16> = Service::ALL
            .iter()
            .flat_map(|s| client.instances().ports(*s).to_vec())
            .collect();
        let client = client.clone();
        let live = live.clone();
        let check = move || {
            for port in ports.clone() {
                let url = format!("{}/healthz", client.base_url(port));
                let live = live.clone();
                leptos::task::spawn_local(async move {
                    let up = matches!(crate::browser::fetch(&url, None).await, Some((200, _)));
                    let state = if up { Health::Up } else { Health::Down };
                    if !up {
                        live.suspect(port);
                    }
                    health.update(|h| match h.iter_mut().find(|(p, _)| *p == port) {
                        Some(entry) => entry.1 = state,
                        None => h.push((port, state)),
                    });
                });
            }
        };
        Effect::new({
            let check = check.clone();
            move |_| check()
        });
        // Back online is shown at once, not at the next poll.
        let back_online = window_event_listener(leptos::ev::online, {
            let check = check.clone();
            move |_| check()
        });
        let handle = set_interval_with_handle(check, HEALTH_EVERY).ok();
        on_cleanup(move || {
            back_online.remove();
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    }
    let selects = Service::ALL
        .into_iter()
        .map(|service| {
            let client = client.clone();
            let ports = client.instances().ports(service).to_vec();
            let id = format!("instance-{}", service.label().to_ascii_lowercase());
            let choose = {
                let client = client.clone();
                move |ev: leptos::ev::Event| {
                    let index: usize = event_target_value(&ev).parse().unwrap_or(0);
                    let choice = client.choice.get_untracked().with(service, index);
                    client.choice.set(choice);
                    crate::browser::save_choice(choice);
                }
            };
            let selected_port = {
                let client = client.clone();
                move || {
                    let ports = client.instances().ports(service);
                    ports[client.choice.get().get(service).min(ports.len() - 1)]
                }
            };
            let dot = move || {
                let port = selected_port();
                let mut state = health.with(|h| health_of(h, port));
                if service == Service::Receiver {
                    state = with_live(live.status.get(), port, state);
                }
                match state {
                    Health::Up => ("dot up", "up"),
                    Health::Down => ("dot down", "down"),
                    Health::Unknown => ("dot", "checking"),
                }
            };
            let options = ports
                .iter()
                .enumerate()
                .map(|(index, port)| {
                    let port = *port;
                    let client = client.clone();
                    let label = move || {
                        let mut state = health.with(|h| health_of(h, port));
                        if service == Service::Receiver {
                            state = with_live(live.status.get(), port, state);
                        }
                        match state {
                            Health::Down => format!(":{port} (down)"),
                            _ => format!(":{port}"),
                        }
                    };
                    view! {
                        <option value=index.to_string() selected=move || client.choice.get().get(service) == index>
                            {label}
                        </option>
                    }
                })
                .collect_view();
            let dot_label = dot.clone();
            view! {
                <div class="pick">
                    <label for=id.clone()>{service.label()}</label>
                    <select id=id on:change=choose data-service=service.label().to_ascii_lowercase()>{options}</select>
                    <span class=move || dot().0 role="img" aria-label=move || format!("{} instance {}", service.label(), dot_label().1)></span>
                </div>
            }
        })
        .collect_view();
    let summary = {
        let client = client.clone();
        move || {
            format!(
                "{}·{}·{}",
                client.choice.get().user + 1,
                client.choice.get().sender + 1,
                client.choice.get().receiver + 1
            )
        }
    };
    view! {
        <div class="instances" class:unfolded=move || unfolded.get()>
            <button
                class="ghost small picker-toggle"
                aria-expanded=move || unfolded.get().to_string()
                aria-controls="picker"
                on:click=move |_| unfolded.update(|u| *u = !*u)
            >
                "Instances " <span class="choice">{summary}</span>
            </button>
            <nav id="picker" class="picker" aria-label="Instances">{selects}</nav>
        </div>
    }
}

/// Which receiver the live connection is on, or that it is reconnecting.
#[component]
pub fn StatusLine() -> impl IntoView {
    let live = use_live();
    let text = move || match live.status.get() {
        LiveStatus::Offline => "Not connected".to_string(),
        LiveStatus::Connecting(port) => format!("Connecting to receiver :{port}…"),
        LiveStatus::Connected(port) => format!("Live via receiver :{port}"),
        LiveStatus::Reconnecting(port) => {
            format!("Receiver :{port} is not answering — trying again (or pick another)")
        }
    };
    let class = move || match live.status.get() {
        LiveStatus::Connected(_) => "status live",
        LiveStatus::Reconnecting(_) => "status warn",
        _ => "status",
    };
    view! { <p class=class role="status" aria-live="polite" data-test="live-status">{text}</p> }
}
