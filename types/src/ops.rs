//! The GraphQL operations the web app sends, shared with the services' tests so both
//! sides agree on them. Each document carries the fragments it uses.

/// The fragments, as literals so that `concat!` can append them to operations.
macro_rules! fragment_text {
    (USER_FIELDS) => {
        "fragment UserFields on User { id username displayName email isActive createdAt presenceHidden }"
    };
    (MESSAGE_FIELDS) => {
        "fragment MessageFields on Message { id chatId seq senderId content clientId createdAt editedAt deletedAt isEdited isDeleted replyTo { messageId seq senderId excerpt isDeleted } reactions { emoji count userIds } pinnedAt mentions { userId username } mentionsAll attachments { id name contentType size width height } }"
    };
    (CHAT_FIELDS) => {
        "fragment ChatFields on Chat { id kind name description participants { user { id username displayName } role lastReadSeq readAt accepted } lastSeq lastEventSeq unreadCount unreadMentions muted createdAt updatedAt lastMessage { ...MessageFields } }"
    };
    (EVENT_FIELDS) => {
        "fragment EventFields on ChatEvent { chatId eventSeq kind actor { id username displayName } subject { id username displayName } name emoji afterSeq at message { ...MessageFields } }"
    };
}

/// A user's fields; `email` is null unless it is the caller.
pub const USER_FIELDS: &str = fragment_text!(USER_FIELDS);
/// A message's fields.
pub const MESSAGE_FIELDS: &str = fragment_text!(MESSAGE_FIELDS);
/// A chat with its participants; its last message needs `MESSAGE_FIELDS` too.
pub const CHAT_FIELDS: &str = fragment_text!(CHAT_FIELDS);
/// A change to a chat (renamed, people added or removed…).
pub const EVENT_FIELDS: &str = fragment_text!(EVENT_FIELDS);

macro_rules! operation {
    ($(#[$doc:meta])* $name:ident = $text:expr $(, $fragment:ident)*) => {
        $(#[$doc])*
        pub const $name: &str = concat!($text $(, "\n", fragment_text!($fragment))*);
    };
}

// User service.
operation!(
    REGISTER = "mutation Register($input: RegisterInput!) { register(input: $input) { token user { ...UserFields } } }",
    USER_FIELDS
);
operation!(
    /// Logs in without asking for the token: the browser keeps only the HttpOnly cookie.
    LOGIN_COOKIE = "mutation Login($username: String!, $password: String!) { login(username: $username, password: $password) { user { ...UserFields } } }", USER_FIELDS);
operation!(
    LOGIN = "mutation Login($username: String!, $password: String!) { login(username: $username, password: $password) { token user { ...UserFields } } }",
    USER_FIELDS
);
operation!(
    REGISTER_COOKIE = "mutation Register($input: RegisterInput!) { register(input: $input) { user { ...UserFields } } }",
    USER_FIELDS
);
operation!(LOGOUT = "mutation Logout { logout }");
operation!(ME = "query Me { me { ...UserFields } }", USER_FIELDS);
operation!(
    USER = "query User($id: ID!) { user(id: $id) { ...UserFields } }",
    USER_FIELDS
);
operation!(
    USER_BY_USERNAME = "query UserByUsername($username: String!) { userByUsername(username: $username) { ...UserFields } }",
    USER_FIELDS
);
operation!(
    USERS = "query Users($search: String, $first: Int, $after: ID) { users(search: $search, first: $first, after: $after) { ...UserFields } }",
    USER_FIELDS
);
operation!(
    UPDATE_PROFILE = "mutation UpdateProfile($displayName: String, $email: String) { updateProfile(displayName: $displayName, email: $email) { ...UserFields } }",
    USER_FIELDS
);
operation!(
    CHANGE_PASSWORD = "mutation ChangePassword($currentPassword: String!, $newPassword: String!) { changePassword(currentPassword: $currentPassword, newPassword: $newPassword) }"
);
operation!(
    DEACTIVATE_ACCOUNT =
        "mutation DeactivateAccount($password: String!) { deactivateAccount(password: $password) }"
);

// Sender service.
operation!(
    CREATE_CHAT = "mutation CreateChat($input: CreateChatInput!) { createChat(input: $input) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    UPDATE_CHAT = "mutation UpdateChat($chatId: ID!, $name: String, $description: String) { updateChat(chatId: $chatId, name: $name, description: $description) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    ADD_PARTICIPANTS = "mutation AddParticipants($chatId: ID!, $userIds: [ID!]!) { addParticipants(chatId: $chatId, userIds: $userIds) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    ADD_PARTICIPANT = "mutation AddParticipant($chatId: ID!, $userId: ID!) { addParticipant(chatId: $chatId, userId: $userId) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    REMOVE_PARTICIPANT = "mutation RemoveParticipant($chatId: ID!, $userId: ID!) { removeParticipant(chatId: $chatId, userId: $userId) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    /// Accepts a chat someone started with you (a request).
    ACCEPT_CHAT = "mutation AcceptChat($chatId: ID!) { acceptChat(chatId: $chatId) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    /// Declines a request: a direct chat is hidden from you (the other person is not
    /// told); a group is left.
    DECLINE_CHAT = "mutation DeclineChat($chatId: ID!) { declineChat(chatId: $chatId) }"
);
operation!(
    CREATE_MESSAGE = "mutation CreateMessage($input: CreateMessageInput!) { createMessage(input: $input) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    UPDATE_MESSAGE = "mutation UpdateMessage($id: ID!, $content: String!) { updateMessage(id: $id, content: $content) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    REMOVE_MESSAGE =
        "mutation RemoveMessage($id: ID!) { removeMessage(id: $id) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    ADD_REACTION = "mutation AddReaction($messageId: ID!, $emoji: String!) { addReaction(messageId: $messageId, emoji: $emoji) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    REMOVE_REACTION = "mutation RemoveReaction($messageId: ID!, $emoji: String!) { removeReaction(messageId: $messageId, emoji: $emoji) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    PIN_MESSAGE = "mutation PinMessage($messageId: ID!) { pinMessage(messageId: $messageId) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    UNPIN_MESSAGE = "mutation UnpinMessage($messageId: ID!) { unpinMessage(messageId: $messageId) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    MARK_AS_READ = "mutation MarkAsRead($chatId: ID!, $upToSeq: Int) { markAsRead(chatId: $chatId, upToSeq: $upToSeq) { chatId userId unreadCount lastReadSeq } }"
);
operation!(SEND_TYPING = "mutation SendTyping($chatId: ID!) { sendTyping(chatId: $chatId) }");

// Receiver service: queries.
operation!(
    CHATS = "query Chats { chats { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    CHAT = "query Chat($id: ID!) { chat(id: $id) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    /// A page of messages with their authors and the chat's changes among them.
    MESSAGES = "query Messages($chatId: ID!, $beforeSeq: Int, $afterSeq: Int, $aroundSeq: Int, $limit: Int) { messages(chatId: $chatId, beforeSeq: $beforeSeq, afterSeq: $afterSeq, aroundSeq: $aroundSeq, limit: $limit) { messages { ...MessageFields } hasMore hasNewer authors { id username displayName } events { ...EventFields } lastEventSeq } }",
    MESSAGE_FIELDS,
    EVENT_FIELDS
);
operation!(
    MESSAGE = "query Message($id: ID!) { message(id: $id) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    UNREAD_COUNTS = "query UnreadCounts { unreadCounts { chatId userId unreadCount lastReadSeq } }"
);
operation!(UNREAD_COUNT = "query UnreadCount($chatId: ID!) { unreadCount(chatId: $chatId) }");
operation!(
    MESSAGE_READ_STATUS = "query MessageReadStatus($messageId: ID!) { messageReadStatus(messageId: $messageId) { messageId totalParticipants readByCount isFullyRead readBy { userId readAt } } }"
);
operation!(
    PINNED_MESSAGES = "query PinnedMessages($chatId: ID!) { pinnedMessages(chatId: $chatId) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    MESSAGE_HISTORY = "query MessageHistory($messageId: ID!) { messageHistory(messageId: $messageId) { content at } }"
);

// Receiver service: subscriptions.
operation!(
    MESSAGE_ADDED = "subscription MessageAdded($chatId: ID!, $afterSeq: Int) { messageAdded(chatId: $chatId, afterSeq: $afterSeq) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    MESSAGE_UPDATED = "subscription MessageUpdated($chatId: ID!, $afterEventSeq: Int) { messageUpdated(chatId: $chatId, afterEventSeq: $afterEventSeq) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    MESSAGE_DELETED = "subscription MessageDeleted($chatId: ID!, $afterEventSeq: Int) { messageDeleted(chatId: $chatId, afterEventSeq: $afterEventSeq) { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    MESSAGE_READ_UPDATED = "subscription MessageReadUpdated($chatId: ID!, $current: Boolean) { messageReadUpdated(chatId: $chatId, current: $current) { chatId userId lastReadSeq readAt } }"
);
operation!(
    TYPING = "subscription Typing($chatId: ID!) { typing(chatId: $chatId) { chatId userId displayName at } }"
);
operation!(
    CHAT_EVENTS = "subscription ChatEvents($chatId: ID!, $afterEventSeq: Int) { chatEvents(chatId: $chatId, afterEventSeq: $afterEventSeq) { ...EventFields } }",
    EVENT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    CHAT_ADDED = "subscription ChatAdded { chatAdded { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    CHAT_UPDATED = "subscription ChatUpdated { chatUpdated { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    UNREAD_COUNT_UPDATED = "subscription UnreadCountUpdated { unreadCountUpdated { chatId userId unreadCount lastReadSeq } }"
);
operation!(
    CHAT_MESSAGE_NOTIFICATION =
        "subscription ChatMessageNotification { chatMessageNotification { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    SET_CHAT_MUTED = "mutation SetChatMuted($chatId: ID!, $muted: Boolean!) { setChatMuted(chatId: $chatId, muted: $muted) { ...ChatFields } }",
    CHAT_FIELDS,
    MESSAGE_FIELDS
);
operation!(
    REPORT_PRESENCE =
        "mutation ReportPresence($status: PresenceStatus!) { reportPresence(status: $status) }"
);
operation!(
    SET_PRESENCE_HIDDEN = "mutation SetPresenceHidden($hidden: Boolean!) { setPresenceHidden(hidden: $hidden) { ...UserFields } }",
    USER_FIELDS
);
operation!(PRESENCE = "query Presence { presence { userId status lastHeardAt } }");
operation!(
    PRESENCE_CHANGED =
        "subscription PresenceChanged { presenceChanged { userId status lastHeardAt } }"
);
operation!(
    MENTIONED = "subscription Mentioned { mentioned { ...MessageFields } }",
    MESSAGE_FIELDS
);
operation!(
    SEARCH_MESSAGES = "query SearchMessages($query: String!, $chatId: ID, $first: Int, $after: ID) { searchMessages(query: $query, chatId: $chatId, first: $first, after: $after) { hits { message { ...MessageFields } snippet { text hit } } hasMore endCursor } }",
    MESSAGE_FIELDS
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_fragments_they_spread() {
        for doc in [
            CREATE_CHAT,
            CHATS,
            MESSAGES,
            REGISTER,
            ME,
            MESSAGE_ADDED,
            CHAT_EVENTS,
        ] {
            for (spread, fragment) in [
                ("...UserFields", USER_FIELDS),
                ("...ChatFields", CHAT_FIELDS),
                ("...MessageFields", MESSAGE_FIELDS),
                ("...EventFields", EVENT_FIELDS),
            ] {
                if doc.contains(spread) {
                    assert!(doc.contains(fragment), "{doc} lacks {fragment}");
                }
            }
        }
    }
}
