//! The input rules of the system, shared by the browser forms and the services.
//!
//! Each rule is a parser: it takes raw text and returns either a value that is known to
//! be valid or a [`FieldError`] naming the field and saying what is wrong, in words fit
//! to show next to the field.

use serde::{Deserialize, Serialize};

/// A rule broken by one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The GraphQL name of the field, e.g. `username` or `displayName`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The same error reported against another field name (e.g. `newPassword`).
    pub fn for_field(mut self, field: &str) -> Self {
        self.field = field.to_string();
        self
    }
}

pub use crate::username::{USERNAME_MAX, USERNAME_MIN};
pub const EMAIL_MAX: usize = 254;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const CHAT_NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 1000;
pub const MESSAGE_MAX: usize = 4000;
pub const GROUP_MAX_PARTICIPANTS: usize = 1000;
pub const CLIENT_ID_MAX: usize = 64;

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_newtype!(
    /// 3–32 of `[a-z0-9_.-]`, stored lowercase.
    Username
);
text_newtype!(
    /// One `@`, a dotted domain, at most 254 characters; stored lowercase.
    Email
);
text_newtype!(
    /// 1–64 characters after trimming.
    DisplayName
);
text_newtype!(
    /// 8–128 characters. Never trimmed: spaces are part of a password.
    Password
);
text_newtype!(
    /// 1–100 characters after trimming.
    ChatName
);
text_newtype!(
    /// At most 1000 characters after trimming.
    Description
);
text_newtype!(
    /// 1–4000 characters after trimming, no NUL.
    MessageContent
);
text_newtype!(
    /// The sender's idempotency key for a message: 1–64 printable ASCII characters.
    ClientId
);

fn char_count(s: &str) -> usize {
    s.chars().count()
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

/// Characters that hide or reorder text without showing themselves: direction
/// overrides and isolates, invisible spaces and fillers, tag characters. In a name they
/// only serve to look like someone else. Joiners (U+200C, U+200D) and variation
/// selectors stay: real words and emoji are built with them.
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{3164}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// What a name must not contain, for `field`: control characters, and characters that
/// make it look like another name.
fn check_name_chars(name: &str, field: &str) -> Result<(), FieldError> {
    if has_control_chars(name) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if name.chars().any(is_deceptive) {
        return Err(FieldError::new(
            field,
            "must not contain invisible or text-direction characters",
        ));
    }
    Ok(())
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // ASCII only: anything else is refused below anyway.
        let name = raw.trim().to_ascii_lowercase();
        let len = char_count(&name);
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(FieldError::new(
                "username",
                format!("must be {USERNAME_MIN}–{USERNAME_MAX} characters long"),
            ));
        }
        if !name
            .chars()
            .all(|c| crate::username::is_username_char(c) && !c.is_ascii_uppercase())
        {
            return Err(FieldError::new(
                "username",
                "may contain only letters a–z, digits, '_', '.' and '-'",
            ));
        }
        if name == crate::username::EVERYONE {
            return Err(FieldError::new(
                "username",
                "is taken: @all mentions everyone in a group",
            ));
        }
        Ok(Self(name))
    }
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_ascii_lowercase();
        let invalid = || FieldError::new("email", "must be a valid email address");
        if char_count(&email) > EMAIL_MAX {
            return Err(FieldError::new(
                "email",
                format!("must be at most {EMAIL_MAX} characters"),
            ));
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        let chars_ok = !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if local.is_empty() || !domain_ok || !chars_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let len = char_count(name);
        if len == 0 {
            return Err(FieldError::new("displayName", "must not be empty"));
        }
        if len > DISPLAY_NAME_MAX {
            return Err(FieldError::new(
                "displayName",
                format!("must be at most {DISPLAY_NAME_MAX} characters"),
            ));
        }
        check_name_chars(name, "displayName")?;
        Ok(Self(name.to_string()))
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = char_count(raw);
        if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
            return Err(FieldError::new(
                "password",
                format!("must be {PASSWORD_MIN}–{PASSWORD_MAX} characters long"),
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

impl ChatName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let len = char_count(name);
        if len == 0 {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if len > CHAT_NAME_MAX {
            return Err(FieldError::new(
                "name",
                format!("must be at most {CHAT_NAME_MAX} characters"),
            ));
        }
        check_name_chars(name, "name")?;
        Ok(Self(name.to_string()))
    }
}

impl Description {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        if char_count(text) > DESCRIPTION_MAX {
            return Err(FieldError::new(
                "description",
                format!("must be at most {DESCRIPTION_MAX} characters"),
            ));
        }
        if text.contains('\0') {
            return Err(FieldError::new("description", "must not contain NUL"));
        }
        Ok(Self(text.to_string()))
    }
}

impl MessageContent {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        let len = char_count(text);
        if len == 0 {
            return Err(FieldError::new("content", "must not be empty"));
        }
        if len > MESSAGE_MAX {
            return Err(FieldError::new(
                "content",
                format!("must be at most {MESSAGE_MAX} characters"),
            ));
        }
        if text.contains('\0') {
            return Err(FieldError::new("content", "must not contain NUL"));
        }
        Ok(Self(text.to_string()))
    }
}

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.len();
        if len == 0 || len > CLIENT_ID_MAX || !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(FieldError::new(
                "clientId",
                format!("must be 1–{CLIENT_ID_MAX} printable ASCII characters"),
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

/// The registration form: every broken rule, so a form can mark all fields at once.
pub fn check_registration(
    username: &str,
    email: &str,
    display_name: &str,
    password: &str,
) -> Result<(Username, Email, DisplayName, Password), Vec<FieldError>> {
    let username = Username::parse(username);
    let email = Email::parse(email);
    let display_name = DisplayName::parse(display_name);
    let password = Password::parse(password);
    match (username, email, display_name, password) {
        (Ok(u), Ok(e), Ok(d), Ok(p)) => Ok((u, e, d, p)),
        (u, e, d, p) => Err([u.err(), e.err(), d.err(), p.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

/// How many participants a group may have, the creator included.
pub fn check_group_size(participants: usize) -> Result<(), FieldError> {
    if participants > GROUP_MAX_PARTICIPANTS {
        return Err(FieldError::new(
            "participantIds",
            format!("a group has at most {GROUP_MAX_PARTICIPANTS} participants"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
