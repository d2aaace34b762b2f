//! What a username is made of: one rule for validating one (`validate`), finding one
//! after `@` in a message (`format`) and completing one in the composer (the app).

/// The shortest and longest a username may be, in characters.
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;

/// `@all`: everyone in a group but the author, when its owner writes it. No one may
/// take it as a username.
pub const EVERYONE: &str = "all";

/// Whether `c` may be part of a username, in either case (usernames are stored
/// lowercase): letters a–z, digits, `_`, `.` and `-`.
pub fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}
