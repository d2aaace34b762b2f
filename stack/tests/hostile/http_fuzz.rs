//! Random requests to `POST /graphql` of every service.

use std::fmt::Write;

use chat_types::ops;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use testkit::Backend;
use testkit::env::TEST_ORIGIN;

use crate::harness::{World, check_graphql_answer};

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
const OPERATIONS: [&[&str]; 3] = [
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
fn variables(ids: Vec<String>) -> impl Strategy<Value = Value> {
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

/// The body of a request.
#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

/// A body for `service`: mostly its own documents or random ones, sometimes another
/// service's.
fn body(ids: Vec<String>, service: usize) -> impl Strategy<Value = Body> {
    let request = (
        prop_oneof![
            5 => proptest::sample::select(OPERATIONS[service]).prop_map(Value::from),
            1 => proptest::sample::select(OPERATIONS.concat()).prop_map(Value::from),
            6 => document(ids.clone()).prop_map(Value::from),
            1 => json_value(ids.clone()),
        ],
        prop_oneof![
            6 => variables(ids.clone()).prop_map(Some),
            1 => Just(None),
            1 => json_value(ids.clone()).prop_map(Some),
        ],
        proptest::option::weighted(
            0.2,
            prop_oneof![
                4 => proptest::sample::select(vec!["Q", "M", "Login", "Register", "Nope", ""])
                    .prop_map(Value::from),
                1 => json_value(ids.clone()),
            ],
        ),
        proptest::option::weighted(0.05, json_value(ids.clone())),
    )
        .prop_map(|(query, variables, operation, extensions)| {
            let mut body = Map::new();
            body.insert("query".into(), query);
            if let Some(v) = variables {
                body.insert("variables".into(), v);
            }
            if let Some(v) = operation {
                body.insert("operationName".into(), v);
            }
            if let Some(v) = extensions {
                body.insert("extensions".into(), v);
            }
            Value::Object(body)
        })
        .boxed();
    let raw_json = request.clone().prop_flat_map(|request| {
        let text = request.to_string().into_bytes();
        let len = text.len();
        (
            Just(text),
            0..=len,
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(mut text, at, junk)| {
                // Cut it short, or splice bytes (invalid UTF-8 too) into it.
                if junk.is_empty() {
                    text.truncate(at);
                } else {
                    text.splice(at..at, junk);
                }
                text
            })
    });
    prop_oneof![
        30 => request.prop_map(Body::Json),
        1 => proptest::collection::vec(document(ids.clone()), 0..3)
            .prop_map(|docs| Body::Json(Value::from(docs.into_iter().map(|q| json!({ "query": q })).collect::<Vec<_>>()))),
        1 => json_value(ids).prop_map(Body::Json),
        2 => raw_json.prop_map(Body::Raw),
        1 => proptest::collection::vec(any::<u8>(), 0..2000).prop_map(Body::Raw),
        1 => proptest::sample::select(vec![
            &b""[..], b"{", b"null", b"[]", b"{}", b"\xef\xbb\xbf{\"query\":\"{ __typename }\"}",
            b"{\"query\":\"{ __typename }\",\"query\":\"{ me { id } }\"}",
            b"{\"query\":\"\xff\xfe\"}", b"{\"query\":\"\\ud800\"}",
        ])
        .prop_map(|b| Body::Raw(b.to_vec())),
        1 => (1usize..5000).prop_map(|n| Body::Raw(format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes())),
    ]
}

/// How the request identifies its caller.
#[derive(Clone, Debug)]
enum Auth {
    None,
    Bearer(String),
    /// A raw `Authorization` header (not always UTF-8).
    Header(Vec<u8>),
    /// The session cookie, with an `Origin` (allowed or not) or without one.
    Cookie(String, Option<&'static str>),
}

fn auth(tokens: Vec<String>) -> impl Strategy<Value = Auth> {
    // The first two are valid.
    let valid = proptest::sample::select(tokens[..2].to_vec());
    let token = proptest::sample::select(tokens);
    prop_oneof![
        3 => Just(Auth::None),
        6 => valid.prop_map(Auth::Bearer),
        3 => token.clone().prop_map(Auth::Bearer),
        1 => proptest::sample::select(vec![
            &b"Bearer"[..], b"Bearer ", b"Basic YTpi", b"bearer  x y", b"Token abc", b"Bearer \xff\xfe",
        ])
        .prop_map(|h| Auth::Header(h.to_vec())),
        2 => (token, proptest::sample::select(vec![Some(TEST_ORIGIN), Some("http://evil.example"), Some("null"), None]))
            .prop_map(|(t, origin)| Auth::Cookie(t, origin)),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        10 => Just(Some("application/json")),
        1 => proptest::sample::select(vec![
            None,
            Some("application/json; charset=utf-8"),
            Some("application/json; charset=utf-16"),
            Some("application/jsonx"),
            Some("application/graphql"),
            Some("application/graphql-response+json"),
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded"),
            Some("*/*"),
        ]),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    service: usize,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Body,
}

fn case(world: &World) -> impl Strategy<Value = Case> {
    let ids = world.ids();
    let tokens = world.tokens();
    (0usize..3).prop_flat_map(move |service| {
        (
            auth(tokens.clone()),
            content_type(),
            body(ids.clone(), service),
        )
            .prop_map(move |(auth, content_type, body)| Case {
                service,
                auth,
                content_type,
                body,
            })
    })
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Raw(bytes) => bytes.clone(),
        }
    }
}

/// Sends one case; returns the status and body.
async fn send(world: &World, case: &Case) -> Result<(u16, Vec<u8>), String> {
    let url = format!("{}/graphql", world.services[case.service]);
    let mut request = world.http.post(url);
    if let Some(ct) = case.content_type {
        request = request.header("content-type", ct);
    }
    match &case.auth {
        Auth::None => {}
        Auth::Bearer(token) => request = request.bearer_auth(token),
        Auth::Header(value) => {
            let value = reqwest::header::HeaderValue::from_bytes(value)
                .map_err(|e| format!("header: {e}"))?;
            request = request.header("authorization", value);
        }
        Auth::Cookie(token, origin) => {
            request = request.header("cookie", format!("chat_session={token}"));
            if let Some(origin) = origin {
                request = request.header("origin", *origin);
            }
        }
    }
    let response = request
        .body(case.bytes())
        .send()
        .await
        .map_err(|e| format!("no answer: {}", chat_types::describe(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    Ok((status, body.to_vec()))
}

/// What the answers were, by status and error code, for the report at the end.
static OUTCOMES: std::sync::Mutex<std::collections::BTreeMap<String, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn tally(status: u16, body: &[u8]) {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let code = value["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or(if value["data"].is_null() { "-" } else { "data" })
        .to_string();
    *OUTCOMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(if std::env::var("FUZZ_DEBUG").is_ok() {
            format!("{status} {code} {:.150}", value["errors"][0]["message"])
        } else {
            format!("{status} {code}")
        })
        .or_default() += 1;
}

fn fuzz(backend: Backend, cases: u32) {
    let Some(world) = World::start(backend) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        max_shrink_iters: 300,
        ..Config::default()
    });
    let result = runner.run(&case(&world), |case| {
        if let Ok(path) = std::env::var("FUZZ_LOG") {
            std::fs::write(path, format!("{case:?}\n")).expect("case log");
        }
        let oversized = case.bytes().len() > chat_types::MAX_BODY_BYTES;
        let outcome =
            world
                .rt
                .block_on(send(&world, &case))
                .and_then(|(status, body)| match status {
                    // Too large to read: refused before any parsing (see below).
                    413 if oversized => Ok(()),
                    _ if oversized => Err(format!("HTTP {status} for an oversized body")),
                    _ => {
                        tally(status, &body);
                        check_graphql_answer(status, &body)
                    }
                });
        outcome.map_err(TestCaseError::fail)
    });
    eprintln!(
        "HTTP outcomes: {:#?}",
        OUTCOMES.lock().unwrap_or_else(|e| e.into_inner())
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    world.assert_still_serving();
}

#[test]
fn random_requests_get_coded_client_errors_on_the_embedded_backend() {
    fuzz(Backend::Embedded, 300);
}

#[test]
fn random_requests_get_coded_client_errors_on_postgres_and_redis() {
    fuzz(Backend::Real, 100);
}

/// A body over the limit is refused before anything reads it, with a coded 413.
#[test]
fn oversized_bodies_are_refused() {
    let Some(world) = World::start(Backend::Embedded) else {
        return;
    };
    world.rt.block_on(async {
        for base in &world.services {
            let padding = "x".repeat(chat_types::MAX_BODY_BYTES);
            let body = json!({ "query": format!("{{ __typename }} # {padding}") }).to_string();
            let response = world
                .http
                .post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .bearer_auth(&world.alice.token)
                .body(body)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), 413, "{base}");
            let body: serde_json::Value = response.json().await.expect("a JSON body");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{base}"
            );
        }
    });
    world.assert_still_serving();
}

/// Deeply nested values in a small document once overflowed the parsing thread's stack
/// and aborted the whole process: refused now, on every service, over POST and
/// WebSocket alike, before anything parses them.
#[test]
fn deeply_nested_documents_are_refused_before_parsing() {
    let Some(world) = World::start(Backend::Embedded) else {
        return;
    };
    let shapes = |n: usize| {
        [
            format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            format!(
                "{{ chat(id: {}1{}) {{ id }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            format!(
                "query($v: ID = {}1{}) {{ __typename }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            format!(
                "{{ __typename @skip(if: {}true{}) }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            format!("{}{}", "{ chats ".repeat(n), "}".repeat(n)),
        ]
    };
    world.rt.block_on(async {
        for n in [65, 300, 2_000, 7_000] {
            for document in shapes(n) {
                for base in &world.services {
                    for token in [None, Some(&world.bob.token)] {
                        let mut request = world
                            .http
                            .post(format!("{base}/graphql"))
                            .json(&json!({ "query": document }));
                        if let Some(token) = token {
                            request = request.bearer_auth(token);
                        }
                        let response = request.send().await.expect("an answer");
                        let status = response.status().as_u16();
                        let body = response.bytes().await.unwrap();
                        check_graphql_answer(status, &body).unwrap();
                        let value: Value = serde_json::from_slice(&body).unwrap();
                        assert_eq!(
                            value["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                            "{n} levels: {value:.300}"
                        );
                    }
                }
                // Over the WebSocket too: refused as an error of the subscription.
                let socket = testkit::WsClient::connect(
                    &world.services[crate::harness::RECEIVER],
                    Some(&world.bob.token),
                    testkit::Protocol::TransportWs,
                )
                .await
                .expect("connects");
                let mut subscription = socket.subscribe(&document, json!({}));
                assert_eq!(subscription.next_error_code().await, "BAD_USER_INPUT");
            }
        }
    });
    world.assert_still_serving();
}
