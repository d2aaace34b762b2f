//! The user service's GraphQL schema.

use async_graphql::{Context, InputObject, Object};
use chat_store::{NewUser, StoreError, UserRecord};
use chat_types::validate::{DisplayName, Email, Password, check_registration};
use chat_types::{AuthPayload, User, UserId};
use http::header::SET_COOKIE;
use server_core::ApiError;
use server_core::auth::{
    clear_session_cookie_header, hash_password, session_cookie_header, verify_password,
};
use server_core::graphql::{client_ip, state, viewer};
use server_core::rate_limit::Action;
use server_core::state::announce_revocation;

/// The largest page of `users`.
const MAX_USERS_PAGE: i32 = 100;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user, email included.
    async fn me(&self, ctx: &Context<'_>) -> Result<User, ApiError> {
        let me = viewer(ctx)?;
        let user = state(ctx).store.user_by_id(me).await?;
        user.map(|u| u.to_user(Some(me)))
            .ok_or(ApiError::Unauthenticated)
    }

    /// A user by id.
    async fn user(&self, ctx: &Context<'_>, id: UserId) -> Result<Option<User>, ApiError> {
        let me = viewer(ctx)?;
        let user = state(ctx).store.user_by_id(id).await?;
        Ok(user.map(|u| u.to_user(Some(me))))
    }

    /// A user by username (case-insensitive).
    async fn user_by_username(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> Result<Option<User>, ApiError> {
        let me = viewer(ctx)?;
        let user = state(ctx).store.user_by_login(&username).await?;
        Ok(user
            .filter(|u| u.username == username.trim().to_lowercase())
            .map(|u| u.to_user(Some(me))))
    }

    /// Active users whose username or display name contains `search`, by username;
    /// pass the last id of a page as `after` for the next.
    async fn users(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<UserId>,
    ) -> Result<Vec<User>, ApiError> {
        let me = viewer(ctx)?;
        let first = first.unwrap_or(20);
        if !(1..=MAX_USERS_PAGE).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("must be 1–{MAX_USERS_PAGE}"),
            ));
        }
        let users = state(ctx)
            .store
            .search_users(search.as_deref(), i64::from(first), after)
            .await?;
        Ok(users.iter().map(|u| u.to_user(Some(me))).collect())
    }
}

#[derive(InputObject)]
pub(crate) struct RegisterInput {
    username: String,
    email: String,
    display_name: String,
    password: String,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates an account and signs it in (the token is also set as an HttpOnly cookie).
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> Result<AuthPayload, ApiError> {
        state(ctx)
            .rate_limiter
            .check_ip(Action::Register, client_ip(ctx))?;
        let (username, email, display_name, password) = check_registration(
            &input.username,
            &input.email,
            &input.display_name,
            &input.password,
        )
        .map_err(|errors| {
            ApiError::BadInput(errors.into_iter().next().expect("at least one error"))
        })?;
        let store = &state(ctx).store;
        let password_hash = hash_password(password.into_inner()).await;
        let user = store
            .create_user(NewUser {
                username: username.as_str(),
                email: email.as_str(),
                display_name: display_name.as_str(),
                password_hash: &password_hash,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(field) => ApiError::Conflict { field },
                other => other.into(),
            })?;
        Ok(start_session(ctx, &user))
    }

    /// Signs in with a username or email. Every failure reads the same.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<AuthPayload, ApiError> {
        // Before any lookup or hashing: the refusal costs nothing and says nothing
        // about the account.
        state(ctx)
            .rate_limiter
            .check_login(client_ip(ctx), &username)?;
        let store = &state(ctx).store;
        // No account can have a NUL in its name, and PostgreSQL refuses to compare one:
        // such a name is simply unknown, as on every backend.
        let user = if username.contains('\0') {
            None
        } else {
            store.user_by_login(&username).await?
        };
        let hash = user
            .as_ref()
            .filter(|u| u.is_active)
            .map(|u| u.password_hash.clone());
        if !verify_password(password, hash).await {
            return Err(ApiError::Unauthenticated);
        }
        let user = user.expect("a verified password belongs to a user");
        Ok(start_session(ctx, &user))
    }

    /// Ends every session of the signed-in user, on every instance.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        state(ctx).store.bump_token_version(me).await?;
        announce_revocation(state(ctx), me);
        clear_cookie(ctx);
        Ok(true)
    }

    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        display_name: Option<String>,
        email: Option<String>,
    ) -> Result<User, ApiError> {
        let me = viewer(ctx)?;
        state(ctx)
            .rate_limiter
            .check_user(Action::ProfileChange, me)?;
        let display_name = display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?;
        let email = email.as_deref().map(Email::parse).transpose()?;
        let user = state(ctx)
            .store
            .update_profile(
                me,
                display_name.as_ref().map(DisplayName::as_str),
                email.as_ref().map(Email::as_str),
            )
            .await?;
        Ok(user.to_user(Some(me)))
    }

    /// Hides your presence from everyone (they see you leave, then nothing), or shows
    /// it again.
    async fn set_presence_hidden(&self, ctx: &Context<'_>, hidden: bool) -> Result<User, ApiError> {
        let me = viewer(ctx)?;
        let state = state(ctx);
        state.rate_limiter.check_user(Action::Presence, me)?;
        let user = state.store.set_presence_hidden(me, hidden).await?;
        server_core::presence::hidden(state, me, hidden).await;
        Ok(user.to_user(Some(me)))
    }

    /// Changes the password and ends every other session; this one gets a new cookie.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        state(ctx)
            .rate_limiter
            .check_user(Action::PasswordCheck, me)?;
        let new_password =
            Password::parse(&new_password).map_err(|e| e.for_field("newPassword"))?;
        let user = require_password(ctx, me, current_password, "currentPassword").await?;
        let store = &state(ctx).store;
        store
            .set_password(me, &hash_password(new_password.into_inner()).await)
            .await?;
        announce_revocation(state(ctx), me);
        let user = store
            .user_by_id(user.user_id())
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        start_session(ctx, &user);
        Ok(true)
    }

    /// Deactivates the account: it can no longer sign in, and its sessions end.
    async fn deactivate_account(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> Result<bool, ApiError> {
        let me = viewer(ctx)?;
        state(ctx)
            .rate_limiter
            .check_user(Action::PasswordCheck, me)?;
        require_password(ctx, me, password, "password").await?;
        state(ctx).store.deactivate_user(me).await?;
        announce_revocation(state(ctx), me);
        clear_cookie(ctx);
        Ok(true)
    }
}

/// The user, if `password` is theirs; otherwise bad input on `field`.
async fn require_password(
    ctx: &Context<'_>,
    me: UserId,
    password: String,
    field: &str,
) -> Result<UserRecord, ApiError> {
    let user = state(ctx)
        .store
        .user_by_id(me)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if !verify_password(password, Some(user.password_hash.clone())).await {
        return Err(ApiError::bad_input(field, "is incorrect"));
    }
    Ok(user)
}

/// Issues a token for the user and sets it as the session cookie.
fn start_session(ctx: &Context<'_>, user: &UserRecord) -> AuthPayload {
    let state = state(ctx);
    let token = state.auth.keys().issue(user.user_id(), user.token_version);
    ctx.append_http_header(
        SET_COOKIE,
        session_cookie_header(&token, state.web.cookie_secure),
    );
    AuthPayload {
        token,
        user: user.to_user(Some(user.user_id())),
    }
}

fn clear_cookie(ctx: &Context<'_>) {
    ctx.append_http_header(
        SET_COOKIE,
        clear_session_cookie_header(state(ctx).web.cookie_secure),
    );
}
