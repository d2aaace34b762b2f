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

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
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
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(
                "username",
                "may contain only letters a–z, digits, '_', '.' and '-'",
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
        if has_control_chars(name) {
            return Err(FieldError::new(
                "displayName",
                "must not contain control characters",
            ));
        }
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
        if has_control_chars(name) {
            return Err(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_are_lowercased_and_limited_to_their_alphabet() {
        assert_eq!(Username::parse(" Alice_1 ").unwrap().as_str(), "alice_1");
        assert_eq!(Username::parse("ab").unwrap_err().field, "username");
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(Username::parse("ålice").is_err());
        assert!(Username::parse("a.b-c_d").is_ok());
    }

    #[test]
    fn emails_need_one_at_and_a_dotted_domain() {
        assert_eq!(
            Email::parse("A@Example.COM").unwrap().as_str(),
            "a@example.com"
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@.b", "a@b.", "a@@b.c", "a b@c.d", "a@b..c",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Bob  ").unwrap().as_str(), "Bob");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
    }

    #[test]
    fn passwords_are_counted_in_characters_and_never_trimmed() {
        assert!(Password::parse("short").is_err());
        assert_eq!(Password::parse(" 8 chars").unwrap().as_str(), " 8 chars");
        assert!(Password::parse(&"p".repeat(129)).is_err());
    }

    #[test]
    fn message_content_is_trimmed_and_limited_to_4000_characters() {
        assert_eq!(MessageContent::parse("  hi \n").unwrap().as_str(), "hi");
        assert!(MessageContent::parse(" \n\t ").is_err());
        assert!(MessageContent::parse(&"x".repeat(4000)).is_ok());
        assert_eq!(
            MessageContent::parse(&"x".repeat(4001)).unwrap_err().field,
            "content"
        );
        assert!(MessageContent::parse("a\0b").is_err());
    }

    #[test]
    fn registration_reports_every_broken_field() {
        let errors = check_registration("a", "nope", " ", "short").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["username", "email", "displayName", "password"]);
    }

    #[test]
    fn groups_are_capped() {
        assert!(check_group_size(1000).is_ok());
        assert!(check_group_size(1001).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_accepted_values_obey_their_rules(s in "\\PC{0,300}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert!((USERNAME_MIN..=USERNAME_MAX).contains(&u.as_str().len()));
            }
            if let Ok(c) = MessageContent::parse(&s) {
                prop_assert_eq!(c.as_str(), c.as_str().trim());
                prop_assert!(!c.as_str().is_empty());
            }
            if let Ok(d) = DisplayName::parse(&s) {
                prop_assert!(d.as_str().chars().count() <= DISPLAY_NAME_MAX);
            }
            let _ = Email::parse(&s);
            let _ = Password::parse(&s);
            let _ = ChatName::parse(&s);
            let _ = Description::parse(&s);
            let _ = ClientId::parse(&s);
        }
    }
}
