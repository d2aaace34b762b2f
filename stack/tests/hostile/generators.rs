//! Random GraphQL documents, variables and JSON for the fuzzers: built from the
//! schemas' own names and the web app's own documents, so that most of what they send
//! gets past parsing and reaches validation, resolvers and the database.

use std::fmt::Write;

use chat_types::ops;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Every field, argument and type name of the three schemas, and introspection's.
/// (Not `logout`, `changePassword` or `deactivateAccount`: they would end the sessions
/// the rest of the run relies on; other tests cover them.)
const FIELDS: &[&str] = &[
    "me",
    "user",
    "userByUsername",
    "users",
    "register",
    "login",
    "updateProfile",
    "createChat",
    "updateChat",
    "addParticipants",
    "addParticipant",
    "removeParticipant",
    "createMessage",
    "updateMessage",
    "removeMessage",
    "markAsRead",
    "sendTyping",
    "health",
    "chats",
    "chat",
    "messages",
    "message",
    "unreadCounts",
    "unreadCount",
    "messageReadStatus",
    "messageAdded",
    "messageUpdated",
    "messageDeleted",
    "messageReadUpdated",
    "typing",
    "chatAdded",
    "chatUpdated",
    "unreadCountUpdated",
    "chatMessageNotification",
    "id",
    "username",
    "displayName",
    "email",
    "isActive",
    "createdAt",
    "token",
    "kind",
    "name",
    "description",
    "participants",
    "role",
    "participantIds",
    "lastSeq",
    "lastMessage",
    "updatedAt",
    "chatId",
    "seq",
    "senderId",
    "content",
    "clientId",
    "isEdited",
    "editedAt",
    "isDeleted",
    "deletedAt",
    "hasMore",
    "totalParticipants",
    "readByCount",
    "isFullyRead",
    "readBy",
    "userId",
    "readAt",
    "lastReadSeq",
    "at",
    "__typename",
    "__schema",
    "__type",
    "types",
    "fields",
    "ofType",
    "queryType",
    "args",
    "inputFields",
    "enumValues",
];

const ARGUMENTS: &[&str] = &[
    "input",
    "id",
    "username",
    "password",
    "search",
    "first",
    "after",
    "chatId",
    "userIds",
    "userId",
    "name",
    "description",
    "content",
    "upToSeq",
    "beforeSeq",
    "afterSeq",
    "limit",
    "messageId",
    "currentPassword",
    "newPassword",
    "kind",
    "participantIds",
    "clientId",
    "email",
    "displayName",
    "if",
    "reason",
];

const TYPES: &[&str] = &[
    "ID",
    "ID!",
    "String",
    "String!",
    "Int",
    "Int!",
    "Float",
    "Boolean!",
    "[ID!]!",
    "[[Int]]",
    "RegisterInput!",
    "CreateChatInput!",
    "CreateMessageInput",
    "ChatKind",
    "Query",
    "User",
    "Nope",
    "[ID!",
];

const TYPE_CONDITIONS: &[&str] = &[
    "Query",
    "Mutation",
    "Subscription",
    "User",
    "Chat",
    "Message",
    "AuthPayload",
    "Nope",
];

/// Tokens for the random token soup: names, keywords, punctuation and junk.
const JUNK: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$",
    "!",
    "...",
    "@",
    "=",
    ",",
    "|",
    "&",
    "#",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "true",
    "false",
    "null",
    "schema",
    "type",
    "directive",
    "@skip",
    "@include",
    "@deprecated",
    "@defer",
    "@stream",
    "\"",
    "\"\"\"",
    "\\",
    "\u{0}",
    "\u{feff}",
    "\u{202e}",
    "😀",
    "-0",
    "1e309",
    "0x1F",
    "9223372036854775808",
    "-9223372036854775809",
    "1.7976931348623157e309",
    "NaN",
    "Infinity",
    "$__proto__",
    "__proto__",
];

pub(crate) fn pick(names: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    proptest::sample::select(names).prop_map(str::to_string)
}

/// Text meant to hurt: control characters, quotes, markup, unicode, long runs.
pub(crate) fn hostile_text() -> impl Strategy<Value = String> + Clone {
    let chars = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::sample::select(vec![
            '\0', '\u{1}', '\n', '\r', '\t', '\u{7f}', '\u{85}', '\u{2028}', '\u{202e}',
            '\u{feff}', '\u{fffd}', '"', '\\', '<', '>', '\'', '`', 'é', '😀', '\u{10ffff}',
        ]),
        1 => any::<char>(),
    ];
    prop_oneof![
        6 => proptest::collection::vec(chars.clone(), 0..40).prop_map(String::from_iter),
        1 => proptest::collection::vec(chars, 3990..4010).prop_map(String::from_iter),
        1 => (0usize..3, 1usize..20_000).prop_map(|(unit, n)| ["x", "é", " "][unit].repeat(n)),
    ]
}

/// A GraphQL string literal of `s`, escaped properly.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A GraphQL input value: every scalar kind, ids of every kind, variables, and lists and
/// objects of them.
fn graphql_value(ids: Vec<String>) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => proptest::sample::select(vec![
            "0", "-1", "2147483647", "2147483648", "-2147483649", "99999999999999999999999",
            "1.5", "-0.0", "1e309", "1e-400", "true", "false", "null", "DIRECT", "GROUP",
            "OWNER", "MEMBER", "NOPE", "\"\"\"block\nstring\"\"\"", "\"\\uD800\"", "\"\\u12\"",
            "\"unterminated",
        ])
        .prop_map(str::to_string),
        3 => hostile_text().prop_map(|s| quote(&s)),
        3 => proptest::sample::select(ids).prop_map(|id| quote(&id)),
        1 => pick(ARGUMENTS).prop_map(|v| format!("${v}")),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((pick(ARGUMENTS), inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

fn arguments(ids: Vec<String>) -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec((pick(ARGUMENTS), graphql_value(ids)), 0..4)
        .prop_map(|args| {
            if args.is_empty() {
                String::new()
            } else {
                let args: Vec<String> =
                    args.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("({})", args.join(", "))
            }
        })
        .boxed()
}

fn directive() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => Just(String::new()),
        1 => Just(" @skip(if: false)".to_string()),
        1 => Just(" @include(if: $if)".to_string()),
        1 => Just(" @skip(if: \"yes\")".to_string()),
        1 => Just(" @nope".to_string()),
        1 => Just(" @include".to_string()),
    ]
}

/// A selection set of real field names with random arguments, aliases, directives,
/// fragments and sub-selections.
fn selection_set(ids: Vec<String>) -> impl Strategy<Value = String> {
    let field = (
        proptest::option::weighted(0.2, "[a-z][a-zA-Z0-9]{0,6}"),
        pick(FIELDS),
        arguments(ids.clone()),
        directive(),
    )
        .prop_map(|(alias, name, args, directive)| {
            let alias = alias.map(|a| format!("{a}: ")).unwrap_or_default();
            format!("{alias}{name}{args}{directive}")
        });
    field.prop_recursive(6, 40, 4, move |inner| {
        let ids = ids.clone();
        prop_oneof![
            (
                pick(FIELDS),
                arguments(ids),
                proptest::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(name, args, children)| format!(
                    "{name}{args} {{ {} }}",
                    children.join(" ")
                )),
            (
                pick(TYPE_CONDITIONS),
                proptest::collection::vec(inner.clone(), 1..3)
            )
                .prop_map(|(on, children)| format!("... on {on} {{ {} }}", children.join(" "))),
            proptest::sample::select(vec!["...F", "...G", "...Missing"]).prop_map(str::to_string),
            inner,
        ]
    })
}

/// A whole document: operations of every kind with variable definitions, fragments
/// (including cycles), token soup, and the shapes that stress a parser and executor:
/// deep nesting, huge literals, alias and directive floods, many operations.
pub(crate) fn document(ids: Vec<String>) -> impl Strategy<Value = String> {
    let operation = (
        proptest::sample::select(vec![
            "",
            "query",
            "mutation",
            "subscription",
            "query Q",
            "mutation M",
        ]),
        proptest::collection::vec(
            (
                pick(ARGUMENTS),
                pick(TYPES),
                proptest::option::of(graphql_value(ids.clone())),
            ),
            0..3,
        ),
        proptest::collection::vec(selection_set(ids.clone()), 1..4),
    )
        .prop_map(|(kind, vars, fields)| {
            let vars = if vars.is_empty() || kind.is_empty() {
                String::new()
            } else {
                let vars: Vec<String> = vars
                    .into_iter()
                    .map(|(name, ty, default)| match default {
                        Some(d) => format!("${name}: {ty} = {d}"),
                        None => format!("${name}: {ty}"),
                    })
                    .collect();
                format!("({})", vars.join(", "))
            };
            format!("{kind}{vars} {{ {} }}", fields.join(" "))
        });
    let fragments = proptest::collection::vec(
        (
            proptest::sample::select(vec!["F", "G"]),
            pick(TYPE_CONDITIONS),
            selection_set(ids.clone()),
        ),
        0..3,
    )
    .prop_map(|fragments| {
        fragments
            .into_iter()
            .map(|(name, on, body)| format!("\nfragment {name} on {on} {{ {body} }}"))
            .collect::<String>()
    });
    let soup = proptest::collection::vec(
        prop_oneof![
            pick(FIELDS),
            pick(ARGUMENTS),
            pick(JUNK),
            hostile_text().prop_map(|s| quote(&s))
        ],
        0..60,
    )
    .prop_map(|tokens| tokens.join(" "));
    // Sizes chosen so most of these fit in a request body (64 KiB) and reach the parser.
    let deep = (0usize..6)
        .prop_flat_map(|shape| {
            (
                Just(shape),
                1..[7000usize, 30_000, 12_000, 3000, 3000, 2000][shape],
            )
        })
        .prop_map(|(shape, n)| match shape {
            0 => format!("{}{}", "{ chats ".repeat(n), "}".repeat(n)),
            1 => format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            2 => format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            3 => format!(
                "{{ {} }}",
                (0..n)
                    .map(|i| format!("a{i}: __typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            4 => format!("{{ __typename{} }}", " @skip(if: false)".repeat(n)),
            _ => (0..n)
                .map(|i| format!("query Q{i} {{ __typename }}\n"))
                .collect(),
        });
    let cyclic = Just(
        "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }".to_string(),
    );
    let introspection = Just(
        "{ __schema { types { name fields { name args { name type { name ofType { name ofType { name } } } } } } } }"
            .to_string(),
    );
    prop_oneof![
        8 => (operation, fragments).prop_map(|(op, fragments)| format!("{op}{fragments}")),
        3 => soup,
        2 => deep,
        1 => cyclic,
        1 => introspection,
        1 => hostile_text(),
    ]
}

/// The documents the web app sends, by service (but those that end a session).
pub(crate) const OPERATIONS: [&[&str]; 3] = [
    &[
        ops::REGISTER,
        ops::REGISTER_COOKIE,
        ops::LOGIN,
        ops::LOGIN_COOKIE,
        ops::ME,
        ops::USER,
        ops::USER_BY_USERNAME,
        ops::USERS,
        ops::UPDATE_PROFILE,
    ],
    &[
        ops::CREATE_CHAT,
        ops::UPDATE_CHAT,
        ops::ADD_PARTICIPANTS,
        ops::ADD_PARTICIPANT,
        ops::REMOVE_PARTICIPANT,
        ops::CREATE_MESSAGE,
        ops::UPDATE_MESSAGE,
        ops::REMOVE_MESSAGE,
        ops::MARK_AS_READ,
        ops::SEND_TYPING,
    ],
    &[
        ops::CHATS,
        ops::CHAT,
        ops::MESSAGES,
        ops::MESSAGE,
        ops::UNREAD_COUNTS,
        ops::UNREAD_COUNT,
        ops::MESSAGE_READ_STATUS,
        ops::MESSAGE_ADDED,
        ops::CHAT_ADDED,
    ],
];

/// A value that might pass for a variable: ids, text, numbers at their limits, lists
/// of ids, and now and then anything at all.
fn plausible_value(ids: Vec<String>) -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        4 => proptest::sample::select(ids.clone()).prop_map(Value::from),
        3 => hostile_text().prop_map(Value::from),
        2 => prop_oneof![
            any::<i64>(),
            proptest::sample::select(vec![
                0i64, -1, 1, 200, 201, i64::from(i32::MAX), i64::from(i32::MAX) + 1,
                i64::MIN, i64::MAX,
            ]),
        ]
        .prop_map(Value::from),
        1 => proptest::collection::vec(proptest::sample::select(ids.clone()), 0..5).prop_map(Value::from),
        1 => proptest::sample::select(vec![
            json!(null), json!(true), json!(1.5), json!(1e300), json!("DIRECT"), json!("GROUP"),
            json!([]), json!({}), json!(u64::MAX),
        ]),
        1 => json_value(ids),
    ]
    .boxed()
}

/// A value for the variable or input field `name`, mostly of the type the schema
/// expects (so that requests reach the resolvers), with hostile contents.
fn typed_value(name: &'static str, ids: Vec<String>) -> BoxedStrategy<Value> {
    let id = proptest::sample::select(ids.clone()).prop_map(Value::from);
    let typed: BoxedStrategy<Value> = match name {
        "chatId" | "id" | "userId" | "messageId" | "after" => id.boxed(),
        "userIds" | "participantIds" => proptest::collection::vec(id, 0..4)
            .prop_map(Value::from)
            .boxed(),
        "upToSeq" | "beforeSeq" | "afterSeq" | "limit" | "first" => prop_oneof![
            -3i64..300,
            proptest::sample::select(vec![
                i64::MIN,
                i64::MAX,
                i64::from(i32::MAX),
                i64::from(i32::MIN)
            ]),
        ]
        .prop_map(Value::from)
        .boxed(),
        "kind" => proptest::sample::select(vec!["DIRECT", "GROUP", "direct", "OTHER"])
            .prop_map(Value::from)
            .boxed(),
        _ => hostile_text().prop_map(Value::from).boxed(),
    };
    prop_oneof![6 => typed, 1 => plausible_value(ids)].boxed()
}

/// Variables for any of the documents: every name they use, mostly well typed, and an
/// input with every field of every input type, or wrong ones.
pub(crate) fn variables(ids: Vec<String>) -> impl Strategy<Value = Value> {
    const REGISTER_INPUT: &[&str] = &["username", "email", "displayName", "password"];
    const CHAT_INPUT: &[&str] = &["kind", "participantIds", "name", "description"];
    const MESSAGE_INPUT: &[&str] = &["chatId", "content", "clientId"];
    let fields = |names: &'static [&'static str], ids: Vec<String>| {
        names
            .iter()
            .map(|name| {
                proptest::option::weighted(0.9, typed_value(name, ids.clone()))
                    .prop_map(move |v| (*name, v))
            })
            .collect::<Vec<_>>()
            .prop_map(|fields| {
                Value::Object(
                    fields
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                        .collect(),
                )
            })
    };
    (
        fields(ARGUMENTS, ids.clone()),
        prop_oneof![
            2 => fields(REGISTER_INPUT, ids.clone()),
            2 => fields(CHAT_INPUT, ids.clone()),
            2 => fields(MESSAGE_INPUT, ids.clone()),
            1 => fields(ARGUMENTS, ids.clone()),
            1 => plausible_value(ids),
        ],
    )
        .prop_map(|(mut variables, input)| {
            variables["input"] = input;
            variables
        })
}

/// Random JSON, for variables and for whole bodies.
pub(crate) fn json_value(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(u64::MAX)),
        hostile_text().prop_map(Value::from),
        proptest::sample::select(ids).prop_map(Value::from),
        Just(json!("DIRECT")),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            proptest::collection::vec((pick(ARGUMENTS), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}
