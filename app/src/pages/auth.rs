//! Signing in and registering. Both forms check the shared rules before sending and
//! show the server's errors next to the field they concern. Both are real POST forms
//! (see [`crate::forms`]): before the page is live, or without scripts, the web tier
//! handles them, and a password never appears in a URL.

use chat_types::ops;
use chat_types::validate::{FieldError, check_registration};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::picker::InstancePicker;
use crate::config::Service;
use crate::forms::{Flash, safe_next, take_flash};

/// The errors shown next to each field, and one for the whole form.
#[derive(Clone, Default)]
struct FormErrors {
    fields: Vec<FieldError>,
    form: Option<String>,
}

impl FormErrors {
    fn for_field(&self, field: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    /// What a refused form says, from the page's flash or from the service's answer.
    fn from_flash(flash: Option<&Flash>) -> Self {
        let Some(flash) = flash else {
            return Self::default();
        };
        let message = flash.error.clone().unwrap_or_default();
        match &flash.field {
            Some(field) => Self {
                fields: vec![FieldError::new(field, &message)],
                form: None,
            },
            None => Self {
                fields: Vec::new(),
                form: Some(message),
            },
        }
    }

    fn from_api(error: ApiError) -> Self {
        Self::from_flash(Some(&Flash::refused("", &error, Default::default())))
    }
}

/// Where to go once signed in (`?next=`, a path on this site), as the page was asked.
fn next_path() -> String {
    let query = use_query_map();
    let next = query.with_untracked(|q| q.get("next"));
    safe_next(next.as_deref())
}

/// Goes on once signed in: a full page load, so the server renders it.
fn enter(next: &str) {
    crate::browser::go(next);
}

#[component]
fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    value: RwSignal<String>,
    errors: RwSignal<FormErrors>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let error = move || errors.with(|e| e.for_field(name));
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            // `value` as well as the binding: a page rendered for a browser without
            // scripts (a refused form coming back) shows what was typed.
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                value=value.get_untracked()
                bind:value=value
                aria-invalid=move || error().is_some().to_string()
                aria-describedby=error_id.clone()
            />
            <p class="field-error" id=error_id role="alert">{error}</p>
        </div>
    }
}

#[component]
fn AuthFrame(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Chat")/>
        <div class="auth">
            <header class="auth-top">
                <span class="brand">"Chat"</span>
                <InstancePicker/>
            </header>
            <main class="auth-card" id="main">
                <h1>{title}</h1>
                {children()}
            </main>
        </div>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let client = use_client();
    let next = next_path();
    let flash = take_flash("login");
    let username = RwSignal::new(
        flash
            .as_ref()
            .map(|f| f.value("username"))
            .unwrap_or_default(),
    );
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::from_flash(flash.as_ref()));
    let busy = RwSignal::new(false);
    let submit = {
        let next = next.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let (login, secret) = (username.get_untracked(), password.get_untracked());
            let mut missing = Vec::new();
            if login.trim().is_empty() {
                missing.push(FieldError::new("username", "enter your username or email"));
            }
            if secret.is_empty() {
                missing.push(FieldError::new("password", "enter your password"));
            }
            if !missing.is_empty() {
                errors.set(FormErrors {
                    fields: missing,
                    form: None,
                });
                return;
            }
            busy.set(true);
            let call = client.call::<serde_json::Value>(
                Service::User,
                ops::LOGIN_COOKIE,
                json!({ "username": login, "password": secret }),
                "login",
            );
            let next = next.clone();
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(_) => enter(&next),
                    Err(e) => {
                        errors.set(FormErrors::from_api(e));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let register_link = if next == "/" {
        "/register".to_string()
    } else {
        format!("/register?next={}", crate::forms::percent_encode(&next))
    };
    view! {
        <AuthFrame title="Sign in">
            <form method="post" action="/login" on:submit=submit novalidate>
                <input type="hidden" name="next" value=next.clone()/>
                <Field label="Username or email" name="username" autocomplete="username" value=username errors=errors/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" value=password errors=errors/>
                <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <p class="switch">"New here? " <a href=register_link>"Create an account"</a></p>
        </AuthFrame>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let client = use_client();
    let next = next_path();
    let flash = take_flash("register");
    let typed = |field: &str| flash.as_ref().map(|f| f.value(field)).unwrap_or_default();
    let username = RwSignal::new(typed("username"));
    let email = RwSignal::new(typed("email"));
    let display_name = RwSignal::new(typed("displayName"));
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::from_flash(flash.as_ref()));
    let busy = RwSignal::new(false);
    let submit = {
        let next = next.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let checked = check_registration(
                &username.get_untracked(),
                &email.get_untracked(),
                &display_name.get_untracked(),
                &password.get_untracked(),
            );
            let (username, email, display_name, password) = match checked {
                Ok(valid) => valid,
                Err(fields) => {
                    errors.set(FormErrors { fields, form: None });
                    return;
                }
            };
            errors.set(FormErrors::default());
            busy.set(true);
            let call = client.call::<serde_json::Value>(
                Service::User,
                ops::REGISTER_COOKIE,
                json!({ "input": {
                    "username": username.as_str(),
                    "email": email.as_str(),
                    "displayName": display_name.as_str(),
                    "password": password.as_str(),
                }}),
                "register",
            );
            let next = next.clone();
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(_) => enter(&next),
                    Err(e) => {
                        errors.set(FormErrors::from_api(e));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let login_link = if next == "/" {
        "/login".to_string()
    } else {
        format!("/login?next={}", crate::forms::percent_encode(&next))
    };
    view! {
        <AuthFrame title="Create an account">
            <form method="post" action="/register" on:submit=submit novalidate>
                <input type="hidden" name="next" value=next.clone()/>
                <Field label="Username" name="username" autocomplete="username" value=username errors=errors/>
                <Field label="Email" name="email" kind="email" autocomplete="email" value=email errors=errors/>
                <Field label="Display name" name="displayName" autocomplete="name" value=display_name errors=errors/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" value=password errors=errors/>
                <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create account" }}
                </button>
            </form>
            <p class="switch">"Have an account? " <a href=login_link>"Sign in"</a></p>
        </AuthFrame>
    }
}
