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
        assert!(Username::parse("ALL").is_err(), "@all mentions everyone");
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

    /// Characters that stress the rules: the username and email alphabets, every kind of
    /// whitespace `trim` knows, control characters (NUL included), invisible and
    /// multi-byte characters, and now and then any character at all.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            1 => proptest::char::range('0', '9'),
            2 => proptest::sample::select(vec![
                ' ', '\t', '\n', '\r', '\0', '\u{1}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}',
                '\u{a0}', '\u{200b}', '\u{202e}', '\u{2028}', '\u{3000}', '\u{feff}', '@', '.',
                '_', '-', '<', '>', '"', '\'', '\\', '%', 'é', 'İ', 'ß', 'K', '😀', '\u{10ffff}',
            ]),
            1 => any::<char>(),
        ]
    }

    /// Text of lengths around every limit of the rules, and well beyond them.
    fn hostile_text() -> impl Strategy<Value = String> {
        let lengths = proptest::sample::select(vec![
            0usize, 1, 2, 3, 4, 7, 8, 9, 31, 32, 33, 63, 64, 65, 99, 100, 101, 127, 128, 129, 253,
            254, 255, 999, 1000, 1001, 3999, 4000, 4001,
        ]);
        prop_oneof![
            3 => proptest::collection::vec(hostile_char(), 0..40),
            2 => proptest::collection::vec(hostile_char(), 0..300),
            2 => lengths.prop_flat_map(|n| proptest::collection::vec(hostile_char(), n)),
            1 => "(?s).{0,200}".prop_map(|s| s.chars().collect::<Vec<_>>()),
        ]
        .prop_map(String::from_iter)
    }

    /// The same text with whitespace of any kind around it.
    fn padded(core: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        let space = proptest::collection::vec(
            proptest::sample::select(vec![' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}']),
            0..4,
        )
        .prop_map(String::from_iter);
        (space.clone(), core, space).prop_map(|(a, core, b)| format!("{a}{core}{b}"))
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// Asserts what every parser promises: a rejection names `field`, an acceptance is
    /// the input after the parser's normalisation and passes `rule`.
    fn check<T: AsRef<str> + std::fmt::Debug>(
        input: &str,
        parsed: Result<T, FieldError>,
        field: &str,
        normalised: impl Fn(&str) -> String,
        rule: impl Fn(&str) -> bool,
    ) -> Result<(), TestCaseError> {
        match parsed {
            Ok(value) => {
                let value = value.as_ref();
                let expected = normalised(input);
                prop_assert_eq!(value, expected.as_str(), "{} of {:?}", field, input);
                prop_assert!(
                    rule(value),
                    "{field} accepted {value:?}, which breaks its rule"
                );
            }
            Err(e) => {
                prop_assert_eq!(e.field.as_str(), field, "{:?}", input);
                prop_assert!(!e.message.is_empty());
            }
        }
        Ok(())
    }

    fn username_rule(v: &str) -> bool {
        (USERNAME_MIN..=USERNAME_MAX).contains(&chars(v))
            && v.chars()
                .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
    }

    fn email_rule(v: &str) -> bool {
        let Some((local, domain)) = v.split_once('@') else {
            return false;
        };
        chars(v) <= EMAIL_MAX
            && !local.is_empty()
            && !domain.contains('@')
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| !label.is_empty())
            && !v.chars().any(|c| c.is_whitespace() || c.is_control())
            && v == v.to_ascii_lowercase()
    }

    /// 1..=max characters, no whitespace at either end, no control characters.
    fn trimmed_name_rule(v: &str, max: usize) -> bool {
        (1..=max).contains(&chars(v))
            && v == v.trim()
            && !v.chars().any(|c| c.is_control() || is_deceptive(c))
    }

    fn password_rule(v: &str) -> bool {
        (PASSWORD_MIN..=PASSWORD_MAX).contains(&chars(v))
    }

    fn description_rule(v: &str) -> bool {
        chars(v) <= DESCRIPTION_MAX && v == v.trim() && !v.contains('\0')
    }

    fn content_rule(v: &str) -> bool {
        (1..=MESSAGE_MAX).contains(&chars(v)) && v == v.trim() && !v.contains('\0')
    }

    fn client_id_rule(v: &str) -> bool {
        (1..=CLIENT_ID_MAX).contains(&v.len()) && v.chars().all(|c| c.is_ascii_graphic())
    }

    /// Every parser on `s`: no panic, rejections name their field, acceptances obey the
    /// documented rule.
    fn check_all(s: &str) -> Result<(), TestCaseError> {
        let lower_trim = |s: &str| s.trim().to_ascii_lowercase();
        let trim = |s: &str| s.trim().to_string();
        check(s, Username::parse(s), "username", lower_trim, username_rule)?;
        check(s, Email::parse(s), "email", lower_trim, email_rule)?;
        check(s, DisplayName::parse(s), "displayName", trim, |v| {
            trimmed_name_rule(v, DISPLAY_NAME_MAX)
        })?;
        check(
            s,
            Password::parse(s),
            "password",
            str::to_string,
            password_rule,
        )?;
        check(s, ChatName::parse(s), "name", trim, |v| {
            trimmed_name_rule(v, CHAT_NAME_MAX)
        })?;
        check(
            s,
            Description::parse(s),
            "description",
            trim,
            description_rule,
        )?;
        check(s, MessageContent::parse(s), "content", trim, content_rule)?;
        check(
            s,
            ClientId::parse(s),
            "clientId",
            str::to_string,
            client_id_rule,
        )?;
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn hostile_text_never_panics_and_every_verdict_follows_the_rules(s in hostile_text()) {
            check_all(&s)?;
        }

        #[test]
        fn padded_hostile_text_follows_the_rules_too(s in padded(hostile_text())) {
            check_all(&s)?;
        }

        /// The other direction: what the rules allow is accepted, whatever its case and
        /// the whitespace around it.
        #[test]
        fn valid_usernames_are_accepted(s in padded("[A-Za-z0-9_.-]{3,32}".prop_map(String::from))) {
            prop_assert_eq!(Username::parse(&s).unwrap().into_inner(), s.trim().to_ascii_lowercase());
        }

        #[test]
        fn valid_emails_are_accepted(
            local in "[A-Za-z0-9._%+!#-]{1,64}",
            labels in proptest::collection::vec("[A-Za-z0-9-]{1,20}", 2..5),
        ) {
            let email = format!("{local}@{}", labels.join("."));
            prop_assert_eq!(Email::parse(&email).unwrap().into_inner(), email.to_ascii_lowercase());
        }

        #[test]
        fn valid_passwords_are_kept_exactly(s in proptest::collection::vec(any::<char>(), 8..=128)) {
            let s = String::from_iter(s);
            prop_assert_eq!(Password::parse(&s).unwrap().into_inner(), s.as_str());
        }

        #[test]
        fn valid_texts_are_accepted_trimmed(s in padded(
            "[^\\p{C}\\s]([^\\p{C}]{0,60}[^\\p{C}\\s])?"
                .prop_map(String::from)
                // Letters that render as nothing (Hangul fillers…) are refused on purpose.
                .prop_filter("no invisible letters", |s| !s.chars().any(is_deceptive)),
        )) {
            let trimmed = s.trim();
            prop_assert_eq!(DisplayName::parse(&s).unwrap().into_inner(), trimmed);
            prop_assert_eq!(ChatName::parse(&s).unwrap().into_inner(), trimmed);
            prop_assert_eq!(Description::parse(&s).unwrap().into_inner(), trimmed);
            prop_assert_eq!(MessageContent::parse(&s).unwrap().into_inner(), trimmed);
        }

        #[test]
        fn valid_client_ids_are_accepted(s in "[!-~]{1,64}") {
            prop_assert_eq!(ClientId::parse(&s).unwrap().into_inner(), s.as_str());
        }

        #[test]
        fn group_sizes_are_capped_at_the_limit(n in 0usize..5000) {
            match check_group_size(n) {
                Ok(()) => prop_assert!(n <= GROUP_MAX_PARTICIPANTS),
                Err(e) => {
                    prop_assert!(n > GROUP_MAX_PARTICIPANTS);
                    prop_assert_eq!(e.field.as_str(), "participantIds");
                }
            }
        }
    }

    proptest! {
        // Four texts a case: fewer cases.
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// A registration reports exactly the fields whose own parser refuses them, in
        /// form order.
        #[test]
        fn registration_reports_exactly_the_broken_fields(
            u in hostile_text(), e in hostile_text(), d in hostile_text(), p in hostile_text(),
        ) {
            let expected: Vec<&str> = [
                ("username", Username::parse(&u).is_err()),
                ("email", Email::parse(&e).is_err()),
                ("displayName", DisplayName::parse(&d).is_err()),
                ("password", Password::parse(&p).is_err()),
            ]
            .into_iter()
            .filter_map(|(field, broken)| broken.then_some(field))
            .collect();
            match check_registration(&u, &e, &d, &p) {
                Ok(_) => prop_assert!(expected.is_empty()),
                Err(errors) => {
                    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                    prop_assert_eq!(fields, expected);
                }
            }
        }
    }

    /// Inputs far beyond any limit (a megabyte and more, as a request body could never
    /// carry but a caller of the library could) are refused quickly, without a panic.
    #[test]
    fn huge_inputs_are_refused_without_panicking() {
        let started = std::time::Instant::now();
        for unit in ["a", " ", "\0", "é", "😀", "a@b.c", "\u{202e}", "\n"] {
            let huge = unit.repeat(1 << 20);
            let padded = format!("  {huge}  ");
            for s in [&huge, &padded] {
                check_all(s).unwrap();
                assert!(MessageContent::parse(s).is_err());
                assert!(Password::parse(s).is_err());
                assert!(Username::parse(s).is_err());
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "validating huge inputs took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn names_cannot_hide_or_reverse_text() {
        // A right-to-left override makes "Ann\u{202E}nimda" read as "Annadmin"; a
        // zero-width space makes two names that look the same.
        for spoof in [
            "Ann\u{202E}nimda",
            "Ad\u{200B}min",
            "\u{2066}Bob\u{2069}",
            "Bo\u{200F}b",
            "\u{FEFF}Cy",
            "\u{3164}",
            "Dan\u{E0041}",
        ] {
            assert_eq!(
                DisplayName::parse(spoof).unwrap_err().field,
                "displayName",
                "{spoof:?}"
            );
            assert_eq!(
                ChatName::parse(spoof).unwrap_err().field,
                "name",
                "{spoof:?}"
            );
        }
        // Joiners and variation selectors build real words and emoji; they stay.
        for fine in [
            "👩\u{200D}💻 Ann",
            "❤\u{FE0F} team",
            "می\u{200C}خواهم",
            "Zoë",
            "مریم",
        ] {
            assert!(DisplayName::parse(fine).is_ok(), "{fine:?}");
            assert!(ChatName::parse(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn nul_and_control_characters_are_refused_where_the_rules_say() {
        assert_eq!(MessageContent::parse("\0").unwrap_err().field, "content");
        assert_eq!(MessageContent::parse(" a\0 ").unwrap_err().field, "content");
        assert_eq!(Description::parse("a\0b").unwrap_err().field, "description");
        assert_eq!(DisplayName::parse("a\0b").unwrap_err().field, "displayName");
        assert_eq!(ChatName::parse("a\u{1b}[31mb").unwrap_err().field, "name");
        assert_eq!(Email::parse("a\0@b.c").unwrap_err().field, "email");
        assert_eq!(Username::parse("abc\0").unwrap_err().field, "username");
        assert_eq!(ClientId::parse("abc\0").unwrap_err().field, "clientId");
        assert_eq!(ClientId::parse("ab c").unwrap_err().field, "clientId");
        assert_eq!(ClientId::parse("é").unwrap_err().field, "clientId");
        // A password is opaque: any character counts, none is trimmed.
        assert!(Password::parse("\0\0\0\0\0\0\0\0").is_ok());
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
