//! Signing in and registering. Both forms check the shared rules before sending and
//! show the server's errors next to the field they concern.

use chat_types::ops;
use chat_types::validate::{FieldError, check_registration};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::json;

use crate::api::{ApiError, use_client};
use crate::components::picker::{InstancePicker, StatusLine};
use crate::config::Service;

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

    fn from_api(error: ApiError) -> Self {
        match error.field {
            Some(field) => Self {
                fields: vec![FieldError::new(
                    &field,
                    error.message.split(": ").last().unwrap_or(&error.message),
                )],
                form: None,
            },
            None => Self {
                fields: Vec::new(),
                form: Some(if error.is_unauthenticated() {
                    "Wrong username or password.".to_string()
                } else if error.code.is_none() {
                    format!(
                        "The user instance did not answer ({}). Try the other one.",
                        error.message
                    )
                } else {
                    error.message
                }),
            },
        }
    }
}

/// Goes to the chats once signed in: a full page load, so the server renders them.
fn enter() {
    #[cfg(browser)]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign("/");
    }
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
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
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
                <StatusLine/>
            </header>
            <main class="auth-card">
                <h1>{title}</h1>
                {children()}
            </main>
        </div>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let client = use_client();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::default());
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
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
        leptos::task::spawn_local(async move {
            match call.await {
                Ok(_) => enter(),
                Err(e) => {
                    errors.set(FormErrors::from_api(e));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <AuthFrame title="Sign in">
            <form on:submit=submit novalidate>
                <Field label="Username or email" name="username" autocomplete="username" value=username errors=errors/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" value=password errors=errors/>
                <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <p class="switch">"New here? " <a href="/register">"Create an account"</a></p>
        </AuthFrame>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let client = use_client();
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::default());
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
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
        leptos::task::spawn_local(async move {
            match call.await {
                Ok(_) => enter(),
                Err(e) => {
                    errors.set(FormErrors::from_api(e));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <AuthFrame title="Create an account">
            <form on:submit=submit novalidate>
                <Field label="Username" name="username" autocomplete="username" value=username errors=errors/>
                <Field label="Email" name="email" kind="email" autocomplete="email" value=email errors=errors/>
                <Field label="Display name" name="displayName" autocomplete="name" value=display_name errors=errors/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" value=password errors=errors/>
                <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create account" }}
                </button>
            </form>
            <p class="switch">"Have an account? " <a href="/login">"Sign in"</a></p>
        </AuthFrame>
    }
}
