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
        0usize, 1, 2, 3, 4, 7, 8, 9, 31, 32, 33, 63, 64, 65, 99, 100, 101, 127, 128, 129, 253, 254,
        255, 999, 1000, 1001, 3999, 4000, 4001,
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
