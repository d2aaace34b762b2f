//! Typed identifiers: a `ChatId` can't be passed where a `UserId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error for text that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s.trim()).map(Self).map_err(|_| InvalidId)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        #[cfg(feature = "graphql")]
        crate::ids::graphql_id!($name);
    };
}

/// Exposes an id type as the GraphQL `ID` scalar: it registers as `ID` itself, so the
/// schema has one `ID` type, and text that is not a UUID is rejected as bad input.
#[cfg(feature = "graphql")]
macro_rules! graphql_id {
    ($name:ident) => {
        impl async_graphql::InputType for $name {
            type RawValueType = Self;

            fn type_name() -> std::borrow::Cow<'static, str> {
                <async_graphql::ID as async_graphql::InputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <async_graphql::ID as async_graphql::InputType>::create_type_info(registry)
            }

            fn parse(value: Option<async_graphql::Value>) -> async_graphql::InputValueResult<Self> {
                match value {
                    Some(async_graphql::Value::String(s)) => s
                        .parse()
                        .map_err(|_| async_graphql::InputValueError::custom("not a valid id")),
                    Some(other) => Err(async_graphql::InputValueError::expected_type(other)),
                    None => Err(async_graphql::InputValueError::expected_type(
                        async_graphql::Value::Null,
                    )),
                }
            }

            fn to_value(&self) -> async_graphql::Value {
                async_graphql::Value::String(self.to_string())
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }
        }

        impl async_graphql::OutputType for $name {
            fn type_name() -> std::borrow::Cow<'static, str> {
                <async_graphql::ID as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <async_graphql::ID as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                _ctx: &async_graphql::ContextSelectionSet<'_>,
                _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                Ok(async_graphql::Value::String(self.to_string()))
            }
        }
    };
}
#[cfg(feature = "graphql")]
pub(crate) use graphql_id;

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A chat (direct or group).
    ChatId
);
id_type!(
    /// A message.
    MessageId
);
id_type!(
    /// A file attached to a message (`crate::files`).
    FileId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = ChatId(Uuid::from_u128(42));
        assert_eq!(id.to_string().parse::<ChatId>(), Ok(id));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert_eq!("not-a-uuid".parse::<UserId>(), Err(InvalidId));
        assert_eq!("".parse::<MessageId>(), Err(InvalidId));
    }
}
