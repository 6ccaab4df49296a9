//! What a session is asked for: the AssumeRole request each strategy
//! builds for a tenant (or one of its users), which is also the session's
//! cache key.

use super::TenantSessions;
use crate::Error;
use crate::aws::partition;
use crate::config::TenantRole;
use crate::identity::{TenantId, UserId};
use crate::session_policy::{SCOPE_TAG, SessionScope, USER_TAG};

/// Everything that shapes a tenant's session: the cache key, so one
/// tenant's credentials can never serve a request that would have asked STS
/// for anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionRequest {
    /// The tenant.
    pub tenant: TenantId,
    /// The role assumed.
    pub role_arn: String,
    /// The session tags (key, value): the tenant's under the session-tags
    /// strategies; the function's job ([`SCOPE_TAG`]) under role-per-tenant,
    /// which the tenant role's trust policy pins per execution role.
    pub tags: Vec<(String, String)>,
    /// The inline session policy: the tenant's under the session-policy
    /// strategies, else the function policy of the scope set with
    /// [`TenantSessions::with_scope`].
    pub policy: Option<String>,
    /// Under `identity-pool`, the SHA-256 of the caller's token's issuer
    /// and subject: the session is that user's, served only to tokens the
    /// pool accepted for them.
    pub principal: Option<[u8; 32]>,
    /// The user whose own area the session is for (its [`USER_TAG`] session
    /// tag, or its session policy, names them); `None`: the tenant's shared
    /// area, which no user area is part of.
    pub user: Option<UserId>,
}

impl TenantSessions {
    /// The role ARN assumed for `tenant` (a shared role's `{scope}` filled
    /// with this function's job).
    pub fn role_arn(&self, tenant: &TenantId) -> String {
        self.role
            .arn(tenant, self.scope.as_ref().map(SessionScope::name))
    }

    /// The AssumeRole request for `tenant` under the configured strategy
    /// (under `identity-pool`, the pool's id and no tag or policy: the pool
    /// decides the role and the tags).
    pub fn request_for(&self, tenant: &TenantId) -> Result<SessionRequest, Error> {
        self.request_in(tenant, None)
    }

    /// The AssumeRole request for `user`'s own area of `tenant`: the
    /// tenant's request, with the user in a [`USER_TAG`] session tag
    /// wherever sessions carry tags (role-per-tenant, the session-tags
    /// strategies) and in the session policy under the session-policy
    /// strategies, so IAM confines the session to that user's area.
    ///
    /// ```no_run
    /// # fn run(sessions: tenant_access::TenantSessions) {
    /// let tenant = "tenant1".parse().unwrap();
    /// let request = sessions.request_for_user(&tenant, &"user-a".parse().unwrap()).unwrap();
    /// assert_eq!(request.user.unwrap().as_str(), "user-a");
    /// # }
    /// ```
    pub fn request_for_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<SessionRequest, Error> {
        self.request_in(tenant, Some(user))
    }

    pub(super) fn request_in(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
    ) -> Result<SessionRequest, Error> {
        if self.source.isolation.identity_pool() {
            // The pool tags the session with the token's own `sub`.
            return Ok(SessionRequest {
                tenant: tenant.clone(),
                role_arn: self.role_arn(tenant),
                tags: Vec::new(),
                policy: None,
                principal: None,
                user: user.cloned(),
            });
        }
        let mut tags = Vec::new();
        if self.source.isolation.tags() {
            tags.push((self.tag_key.clone(), tenant.as_str().to_owned()));
        }
        let role_arn = self.role_arn(tenant);
        if let TenantRole::Shared(_) = &self.role
            && role_arn.contains("{scope}")
        {
            return Err(Error::Misconfigured {
                detail:
                    "TENANT_SHARED_ROLE_ARN names a role per {scope} but this function set no scope"
                        .to_owned(),
            });
        }
        if let (TenantRole::PerTenant(_), Some(scope)) = (&self.role, &self.scope) {
            tags.push((SCOPE_TAG.to_owned(), scope.name().to_owned()));
        }
        let tagged = self.source.isolation.tags() || matches!(self.role, TenantRole::PerTenant(_));
        if let (Some(user), true) = (user, tagged) {
            tags.push((USER_TAG.to_owned(), user.as_str().to_owned()));
        }
        let region = self
            .source
            .base
            .region()
            .map_or("us-east-1", |r| r.as_ref());
        let policy = match &self.scope {
            // The tenant's own scope-down: only this function's job, only
            // on the tenant's resources.
            Some(scope) if self.source.isolation.policy() => {
                Some(scope.policy_for(tenant, user, partition(region))?)
            }
            // The role (or tag) confines the tenant; this confines the
            // session to the function's job.
            Some(scope) => Some(scope.function_policy(partition(region))),
            None if self.source.isolation.policy() => {
                return Err(Error::Misconfigured {
                    detail:
                        "TENANT_ISOLATION asks for a session policy but this function set no scope"
                            .to_owned(),
                });
            }
            None => None,
        };
        Ok(SessionRequest {
            tenant: tenant.clone(),
            role_arn,
            tags,
            policy,
            principal: None,
            user: user.cloned(),
        })
    }
}
