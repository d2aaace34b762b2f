//! Forms that work before and without scripts. Sign-in, registration, logout and
//! sending are real `method="post"` forms: the web tier handles them when the page has
//! no script running yet (or none at all), and the hydrated app takes them over
//! otherwise. A refused form comes back as a redirect to the page with a short-lived
//! cookie (the flash) saying what went wrong and what was typed — never a password,
//! and nothing in the URL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::config::cookie_value;

/// The cookie that carries a refused form back to its page.
pub const FLASH_COOKIE: &str = "chat_form";

/// Browsers keep cookies of up to about 4 KiB.
const MAX_FLASH_BYTES: usize = 3500;

/// What a refused form says on its page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Which form: `login`, `register`, or `send:<chat id>`.
    pub form: String,
    /// What went wrong, for the whole form.
    #[serde(default)]
    pub error: Option<String>,
    /// The field the error is about, if one.
    #[serde(default)]
    pub field: Option<String>,
    /// What was typed, to fill the form in again (never a password).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

impl Flash {
    /// What `form` says when the service refused it with `error`: next to the field
    /// the error names, or for the whole form.
    pub fn refused(form: &str, error: &ApiError, values: BTreeMap<String, String>) -> Self {
        let (message, field) = match &error.field {
            // "username: already taken" → "already taken", next to the username.
            Some(field) => (
                error
                    .message
                    .split(": ")
                    .last()
                    .unwrap_or(&error.message)
                    .to_string(),
                Some(field.clone()),
            ),
            None => (refusal(error), None),
        };
        Self {
            form: form.to_string(),
            error: Some(message),
            field,
            values,
        }
    }

    pub fn value(&self, field: &str) -> String {
        self.values.get(field).cloned().unwrap_or_default()
    }

    /// The `Set-Cookie` value that carries this flash (for a minute). What was typed
    /// is left out when it would make the cookie too big for browsers to keep.
    pub fn set_cookie(&self) -> String {
        let mut value = percent_encode(&serde_json::to_string(self).unwrap_or_default());
        if value.len() > MAX_FLASH_BYTES {
            let without_values = Self {
                values: BTreeMap::new(),
                ..self.clone()
            };
            value = percent_encode(&serde_json::to_string(&without_values).unwrap_or_default());
        }
        format!("{FLASH_COOKIE}={value}; Path=/; Max-Age=60; SameSite=Lax")
    }

    /// Reads a `Cookie` header's flash for `form`.
    pub fn from_cookie_header(header: &str, form: &str) -> Option<Self> {
        let value = cookie_value(header, FLASH_COOKIE)?;
        let tree: serde_json::Value = serde_json::from_str(&percent_decode(value)?).ok()?;
        let flash: Flash = serde_json::from_value(tree).ok()?;
        (flash.form == form).then_some(flash)
    }
}

/// What a refused form says for the whole form, in plain words.
pub fn refusal(error: &ApiError) -> String {
    if error.is_unauthenticated() {
        "Wrong username or password.".to_string()
    } else if error.code.is_none() {
        "The server did not answer. Try again, or pick other instances in the bar above."
            .to_string()
    } else {
        error.message.clone()
    }
}

/// The flash left for `form` on this page request, if any. The server reads the
/// request's cookie; the browser reads the same cookie while hydrating (so both
/// render the same page) and then removes it, so it shows once.
pub fn take_flash(form: &str) -> Option<Flash> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        let header = parts.headers.get(http::header::COOKIE)?.to_str().ok()?;
        Flash::from_cookie_header(header, form)
    }
    #[cfg(not(feature = "ssr"))]
    {
        let flash = Flash::from_cookie_header(&crate::browser::document_cookie(), form);
        if flash.is_some() {
            crate::browser::set_cookie(&format!("{FLASH_COOKIE}=; Path=/; Max-Age=0"));
        }
        flash
    }
}

/// Where to go after signing in: a path on this site, never another site.
///
/// `next` must be a path-absolute reference (one `/`, then not a second one) made only
/// of the characters a URL may carry as they are: browsers drop tabs and line breaks
/// from addresses and read `\` as `/`, so `/<TAB>/evil.example` or `/\evil.example`
/// would lead to another site. Anything else goes to the start page.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if is_local_path(path)
                && !path.starts_with("/login")
                && !path.starts_with("/register") =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Whether `path` is a path on this site, and stays one however a browser reads it.
fn is_local_path(path: &str) -> bool {
    let mut bytes = path.bytes();
    bytes.next() == Some(b'/')
        && bytes.next() != Some(b'/')
        // RFC 3986's unreserved and sub-delimiters, ':', '@', '/', '?', '#', and '%' for
        // escapes: no space, control character, backslash or other byte a browser
        // might drop or rewrite.
        && path.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&b)
        })
}

/// `page` (`/login`, `/register`), keeping where to go afterwards.
pub fn with_next(page: &str, next: &str) -> String {
    if next == "/" || next.is_empty() {
        page.to_string()
    } else {
        format!("{page}?next={}", percent_encode(next))
    }
}

/// Percent-encodes everything but letters, digits and `-_.~` (cookie values and query
/// strings).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_its_cookie() {
        let flash = Flash {
            form: "register".into(),
            error: Some("username already exists; “quotes”; semi;colons".into()),
            field: Some("username".into()),
            values: [("username".to_string(), "ann=1; x".to_string())].into(),
        };
        let cookie = flash.set_cookie();
        let value = cookie.split(';').next().unwrap();
        assert!(!value.contains(' ') && !value.contains('"'));
        let header = format!("a=b; {value}; c=d");
        assert_eq!(Flash::from_cookie_header(&header, "register"), Some(flash));
        assert_eq!(Flash::from_cookie_header(&header, "login"), None);
    }

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for good in ["/chats/abc", "/chats/abc?at=12#m", "/a%2F%2Fb", "/"] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "\\/evil.example",
            // Browsers drop tabs and line breaks from addresses: each of these becomes
            // `//evil.example/x`.
            "/\t/evil.example/x",
            "/\n/evil.example/x",
            "/\r\n/evil.example/x",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/x",
            "/é",
            "/login",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    /// Whatever `safe_next` lets through, a browser's URL parser resolves on this site.
    #[test]
    fn what_is_followed_resolves_on_this_site() {
        let site = url::Url::parse("https://chat.example/login").unwrap();
        let tricky = [
            "/\t/evil.example",
            "/\\evil.example",
            "/./\t/evil",
            "/%2F/evil.example",
            "/@evil.example",
            "/:evil.example",
            "/?//evil",
            "/#//evil",
            "/..//evil.example",
        ];
        for candidate in tricky {
            let next = safe_next(Some(candidate));
            let resolved = site.join(&next).unwrap();
            assert_eq!(
                resolved.host_str(),
                Some("chat.example"),
                "{candidate:?} → {next:?}"
            );
        }
    }
}
