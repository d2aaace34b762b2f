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
use crate::forms::{Flash, safe_next, take_flash, with_next};

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

/// Sends a sign-in or registration, then goes on to `next` with a full page load (so
/// the server renders it), or shows why not.
fn sign_in(
    call: impl Future<Output = Result<serde_json::Value, ApiError>> + 'static,
    next: String,
    errors: RwSignal<FormErrors>,
    busy: RwSignal<bool>,
) {
    busy.set(true);
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(_) => crate::browser::go(&next),
            Err(e) => {
                errors.set(FormErrors::from_api(e));
                busy.set(false);
            }
        }
    });
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

/// What a sign-in or registration page shows around its fields.
struct FormPage {
    title: &'static str,
    /// Where the form posts without scripts.
    action: &'static str,
    submit: &'static str,
    submitting: &'static str,
    /// The other page: the question, the link's text, its page.
    switch: (&'static str, &'static str, &'static str),
}

/// A sign-in or registration page: the form (its fields are the children), its
/// errors, the button, and the way to the other page, keeping `next`.
#[component]
fn AuthForm(
    page: FormPage,
    next: String,
    errors: RwSignal<FormErrors>,
    busy: RwSignal<bool>,
    on_submit: impl Fn(SubmitEvent) + 'static,
    children: Children,
) -> impl IntoView {
    let (question, link, other) = page.switch;
    let other = with_next(other, &next);
    view! {
        <Title text=format!("{} · Chat", page.title)/>
        <div class="auth">
            <header class="auth-top">
                <span class="brand">"Chat"</span>
                <InstancePicker/>
            </header>
            <main class="auth-card" id="main">
                <h1>{page.title}</h1>
                <form method="post" action=page.action on:submit=on_submit novalidate>
                    <input type="hidden" name="next" value=next/>
                    {children()}
                    <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                    <button type="submit" class="primary" disabled=busy>
                        {move || if busy.get() { page.submitting } else { page.submit }}
                    </button>
                </form>
                <p class="switch">{question} " " <a href=other>{link}</a></p>
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
            let call = client.call::<serde_json::Value>(
                Service::User,
                ops::LOGIN_COOKIE,
                json!({ "username": login, "password": secret }),
                "login",
            );
            sign_in(call, next.clone(), errors, busy);
        }
    };
    let page = FormPage {
        title: "Sign in",
        action: "/login",
        submit: "Sign in",
        submitting: "Signing in…",
        switch: ("New here?", "Create an account", "/register"),
    };
    view! {
        <AuthForm page=page next=next errors=errors busy=busy on_submit=submit>
            <Field label="Username or email" name="username" autocomplete="username" value=username errors=errors/>
            <Field label="Password" name="password" kind="password" autocomplete="current-password" value=password errors=errors/>
        </AuthForm>
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
            sign_in(call, next.clone(), errors, busy);
        }
    };
    let page = FormPage {
        title: "Create an account",
        action: "/register",
        submit: "Create account",
        submitting: "Creating…",
        switch: ("Have an account?", "Sign in", "/login"),
    };
    view! {
        <AuthForm page=page next=next errors=errors busy=busy on_submit=submit>
            <Field label="Username" name="username" autocomplete="username" value=username errors=errors/>
            <Field label="Email" name="email" kind="email" autocomplete="email" value=email errors=errors/>
            <Field label="Display name" name="displayName" autocomplete="name" value=display_name errors=errors/>
            <Field label="Password" name="password" kind="password" autocomplete="new-password" value=password errors=errors/>
        </AuthForm>
    }
}
