//! The emoji people react with: a set shipped with the app (the picker searches it by
//! name, with no network) and the rule that a reaction is one of them, checked alike by
//! the browser and the sender. The set is Unicode's: the most used first, listed here,
//! then the rest ([`set::OTHERS`], generated).

use crate::validate::FieldError;

mod set;

/// The most distinct emoji one message carries.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;

/// How many of [`MOST_USED`] the picker offers at once, before any search.
pub const QUICK: usize = 8;

/// The emoji people use most, with their names; the most used first.
pub const MOST_USED: &[(&str, &str)] = &[
    ("👍", "thumbs up"),
    ("❤️", "red heart"),
    ("😂", "face with tears of joy"),
    ("🎉", "party popper"),
    ("😮", "open mouth"),
    ("😢", "crying face"),
    ("🙏", "folded hands"),
    ("👀", "eyes"),
    ("👎", "thumbs down"),
    ("🔥", "fire"),
    ("✅", "check mark"),
    ("❌", "cross mark"),
    ("💯", "hundred points"),
    ("🚀", "rocket"),
    ("👏", "clapping hands"),
    ("🙌", "raising hands"),
    ("👋", "waving hand"),
    ("👌", "ok hand"),
    ("✌️", "victory hand"),
    ("🤞", "crossed fingers"),
    ("💪", "flexed biceps"),
    ("🤝", "handshake"),
    ("☝️", "pointing up"),
    ("✍️", "writing hand"),
    ("😀", "grinning face"),
    ("😊", "smiling face with smiling eyes"),
    ("😁", "beaming face"),
    ("😆", "grinning squinting face"),
    ("🤣", "rolling on the floor laughing"),
    ("🙂", "slightly smiling face"),
    ("🙃", "upside-down face"),
    ("😉", "winking face"),
    ("😇", "smiling face with halo"),
    ("🥰", "smiling face with hearts"),
    ("😍", "smiling face with heart-eyes"),
    ("🤩", "star-struck"),
    ("😘", "face blowing a kiss"),
    ("😋", "face savoring food"),
    ("😛", "face with tongue"),
    ("🤪", "zany face"),
    ("🤗", "hugging face"),
    ("🤭", "face with hand over mouth"),
    ("🤫", "shushing face"),
    ("🤔", "thinking face"),
    ("🤐", "zipper-mouth face"),
    ("🤨", "face with raised eyebrow"),
    ("😐", "neutral face"),
    ("😑", "expressionless face"),
    ("😶", "face without mouth"),
    ("😏", "smirking face"),
    ("😒", "unamused face"),
    ("🙄", "face with rolling eyes"),
    ("😬", "grimacing face"),
    ("😌", "relieved face"),
    ("😔", "pensive face"),
    ("😪", "sleepy face"),
    ("😴", "sleeping face"),
    ("😷", "face with medical mask"),
    ("🤢", "nauseated face"),
    ("🤧", "sneezing face"),
    ("🥵", "hot face"),
    ("🥶", "cold face"),
    ("🥴", "woozy face"),
    ("🤯", "exploding head"),
    ("🤠", "cowboy hat face"),
    ("🥳", "partying face"),
    ("😎", "smiling face with sunglasses"),
    ("🤓", "nerd face"),
    ("😕", "confused face"),
    ("😟", "worried face"),
    ("☹️", "frowning face"),
    ("😲", "astonished face"),
    ("😳", "flushed face"),
    ("🥺", "pleading face"),
    ("😨", "fearful face"),
    ("😰", "anxious face with sweat"),
    ("😭", "loudly crying face"),
    ("😱", "face screaming in fear"),
    ("😖", "confounded face"),
    ("😞", "disappointed face"),
    ("😩", "weary face"),
    ("😫", "tired face"),
    ("🥱", "yawning face"),
    ("😤", "face with steam from nose"),
    ("😡", "pouting face"),
    ("😠", "angry face"),
    ("🤬", "face with symbols on mouth"),
    ("😈", "smiling face with horns"),
    ("💀", "skull"),
    ("💩", "pile of poo"),
    ("🤡", "clown face"),
    ("👻", "ghost"),
    ("👽", "alien"),
    ("🤖", "robot"),
    ("🙈", "see-no-evil monkey"),
    ("🙉", "hear-no-evil monkey"),
    ("🙊", "speak-no-evil monkey"),
    ("🧡", "orange heart"),
    ("💛", "yellow heart"),
    ("💚", "green heart"),
    ("💙", "blue heart"),
    ("💜", "purple heart"),
    ("🖤", "black heart"),
    ("🤍", "white heart"),
    ("💔", "broken heart"),
    ("💖", "sparkling heart"),
    ("✨", "sparkles"),
    ("⭐", "star"),
    ("🌟", "glowing star"),
    ("💥", "collision"),
    ("💭", "thought balloon"),
    ("💬", "speech balloon"),
    ("💤", "zzz"),
    ("💡", "light bulb"),
    ("🔔", "bell"),
    ("📌", "pushpin"),
    ("📝", "memo"),
    ("📅", "calendar"),
    ("⌛", "hourglass done"),
    ("⏰", "alarm clock"),
    ("⚠️", "warning"),
    ("⛔", "no entry"),
    ("❓", "question mark"),
    ("❗", "exclamation mark"),
    ("➕", "heavy plus sign"),
    ("➖", "heavy minus sign"),
    ("🏆", "trophy"),
    ("🥇", "1st place medal"),
    ("🎁", "gift"),
    ("🎈", "balloon"),
    ("🎂", "birthday cake"),
    ("☕", "hot beverage"),
    ("🍺", "beer mug"),
    ("🥂", "clinking glasses"),
    ("🍕", "pizza"),
    ("🌮", "taco"),
    ("🍎", "red apple"),
    ("☀️", "sun"),
    ("🌈", "rainbow"),
    ("☁️", "cloud"),
    ("❄️", "snowflake"),
    ("☔", "umbrella with rain drops"),
    ("⚡", "high voltage"),
    ("🌍", "globe showing europe-africa"),
    ("🐶", "dog face"),
    ("🐱", "cat face"),
    ("🦄", "unicorn"),
    ("🐛", "bug"),
    ("🐌", "snail"),
    ("🐢", "turtle"),
    ("🌱", "seedling"),
    ("🍀", "four leaf clover"),
    ("🌹", "rose"),
    ("🌻", "sunflower"),
    ("💻", "laptop"),
    ("📊", "bar chart"),
    ("📈", "chart increasing"),
    ("📉", "chart decreasing"),
    ("🔗", "link"),
    ("🔒", "locked"),
    ("🔑", "key"),
    ("🛠️", "hammer and wrench"),
    ("⚙️", "gear"),
    ("🔧", "wrench"),
    ("🔍", "magnifying glass tilted left"),
    ("📚", "books"),
    ("💰", "money bag"),
    ("📦", "package"),
    ("⚽", "soccer ball"),
    ("🎶", "musical notes"),
    ("🎮", "video game"),
    ("🤷‍♂️", "man shrugging"),
    ("🤷‍♀️", "woman shrugging"),
    ("🤦", "person facepalming"),
    ("🙋", "person raising hand"),
    ("🙇", "person bowing"),
    ("🫶", "heart hands"),
    ("🫡", "saluting face"),
    ("🫠", "melting face"),
    ("🥹", "face holding back tears"),
];

/// Every emoji a reaction may be, with its name: [`MOST_USED`], then the rest by name.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    MOST_USED.iter().chain(set::OTHERS).copied()
}

/// An emoji of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emoji(&'static str);

impl Emoji {
    /// One emoji of the set, exactly (so one grapheme); anything else is refused.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        all()
            .find(|(emoji, _)| *emoji == raw)
            .map(|(emoji, _)| Emoji(emoji))
            .ok_or_else(|| FieldError::new("emoji", "must be one emoji of the app's set"))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The emoji's name, e.g. "thumbs up".
    pub fn name(&self) -> &'static str {
        all()
            .find(|(emoji, _)| *emoji == self.0)
            .map_or("", |(_, name)| name)
    }
}

/// The emoji whose name has, for every word of `query`, a word that starts with it
/// (case-insensitive: "rock" finds "rocket", not "shamrock"), in the set's order; all of
/// them for an empty query.
pub fn search(query: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    all().filter(move |(_, name)| {
        words.iter().all(|w| {
            name.split(|c: char| !c.is_alphanumeric())
                .any(|part| part.starts_with(w.as_str()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaction_is_exactly_one_emoji_of_the_set() {
        assert_eq!(Emoji::parse("👍").unwrap().name(), "thumbs up");
        assert_eq!(Emoji::parse("❤️").unwrap().as_str(), "❤️");
        for refused in ["", "👍👍", " 👍", "a", "<script>", "👍\u{200d}", "\0"] {
            assert_eq!(
                Emoji::parse(refused).unwrap_err().field,
                "emoji",
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_set_has_no_duplicates_and_each_is_one_symbol() {
        let set: Vec<(&str, &str)> = all().collect();
        assert!(set.len() > 1_500, "Unicode's, not a sample");
        for (i, (emoji, name)) in set.iter().enumerate() {
            assert!(!name.is_empty());
            assert!(
                set[i + 1..].iter().all(|(other, _)| other != emoji),
                "{emoji} twice"
            );
            // No letters, digits or spaces: each is a pictograph (with joiners and
            // variation selectors at most).
            assert!(
                emoji
                    .chars()
                    .all(|c| !c.is_alphanumeric() && !c.is_whitespace()),
                "{emoji}"
            );
        }
    }

    #[test]
    fn search_matches_every_word_of_the_name() {
        let found: Vec<&str> = search("heart red").map(|(e, _)| e).collect();
        assert_eq!(found, ["❤️"]);
        assert!(search("ROCK").any(|(e, _)| e == "🚀"));
        assert!(
            !search("rock").any(|(e, _)| e == "☘️"),
            "not inside a word: shamrock"
        );
        assert!(
            search("octopus").any(|(e, _)| e == "🐙"),
            "beyond the most used"
        );
        assert_eq!(search("").count(), all().count());
        assert_eq!(search("no such thing").count(), 0);
    }
}
