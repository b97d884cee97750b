//! A policy against a request: which statements apply, the [`Decision`],
//! and whether the policy is public.
//!
//! A statement applies when its principal, action and resource match and
//! all its conditions hold (`NotX` matches what `X` would not). The policy
//! decides [`Decision::Deny`] if any applying statement denies, else
//! [`Decision::Allow`] if one allows, else [`Decision::Neutral`]: the
//! request is then left to the key's own grants and the ACLs (see
//! `crate::access`).
//!
//! DeleteObjects is one request for many keys: it is evaluated with
//! [`Context::any_object`], where a resource pattern counts for a Deny if
//! it could name any object of the bucket and for an Allow only if it names
//! every one (`arn:aws:s3:::bucket/*`), so that a Deny on a prefix is never
//! bypassed.

use super::condition::{Context, Operator, SetQualifier, Values};
use super::glob;
use super::{Effect, Policy, Principals, Statement};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An explicit Deny applies.
    Deny,
    /// An Allow applies and no Deny.
    Allow,
    /// No statement applies.
    Neutral,
}

impl Policy {
    /// The policy's decision for `ctx`; `public_allowed` false drops the
    /// Allows of statements that are public (RestrictPublicBuckets) for
    /// anonymous requests.
    pub fn evaluate(&self, ctx: &Context<'_>, public_allowed: bool) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !s.applies(ctx, s.effect) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => {
                    if public_allowed || ctx.principal.is_some() || !s.is_public() {
                        allowed = true;
                    }
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Neutral
        }
    }

    /// Whether the policy is public as S3 defines it: some Allow grants to
    /// everyone (`*`, or through `NotPrincipal`) without a condition that
    /// pins the request to fixed values (an `aws:SourceIp` range of at
    /// least a /8, or a fixed `aws:SourceArn`, `aws:SourceVpc`, ...).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }
}

/// Keys whose fixed value makes a statement non-public (S3 user guide,
/// "The meaning of public").
const FIXING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

impl Statement {
    fn applies(&self, ctx: &Context<'_>, effect: Effect) -> bool {
        self.principal_matches(ctx.principal)
            && self.action_matches(ctx.action)
            && self.resource_matches(ctx, effect)
            && self.conditions.iter().all(|c| c.holds(ctx))
    }

    fn principal_matches(&self, principal: Option<&str>) -> bool {
        let named = match (&self.principal.items, principal) {
            (Principals::Anyone, _) => true,
            (Principals::Keys(keys), Some(id)) => keys.iter().any(|k| k == id),
            (Principals::Keys(_), None) => false,
        };
        named != self.principal.not
    }

    fn action_matches(&self, action: &str) -> bool {
        let named = self
            .action
            .items
            .iter()
            .any(|p| p == "*" || glob::matches(p, action, true));
        named != self.action.not
    }

    fn resource_matches(&self, ctx: &Context<'_>, effect: Effect) -> bool {
        let named = if ctx.any_object {
            // `ctx.resource` is `arn:aws:s3:::bucket/`: the patterns that
            // name every object, or (for a Deny) any object.
            let bucket_objects = &ctx.resource;
            let deny = (effect == Effect::Deny) != self.resource.not;
            self.resource.items.iter().any(|p| {
                // A pattern that ends in `*` and matches the bare prefix
                // matches the prefix followed by anything.
                let every = p.ends_with('*') && glob::matches(p, bucket_objects, false);
                every || (deny && p.starts_with(bucket_objects.as_ref()))
            })
        } else {
            self.resource
                .items
                .iter()
                .any(|p| glob::matches(p, &ctx.resource, false))
        };
        named != self.resource.not
    }

    /// An Allow to everyone with no fixing condition.
    pub fn is_public(&self) -> bool {
        if self.effect != Effect::Allow {
            return false;
        }
        let everyone = match &self.principal.items {
            Principals::Anyone => !self.principal.not,
            Principals::Keys(_) => self.principal.not,
        };
        everyone && !self.conditions.iter().any(fixes)
    }
}

/// Whether a condition pins requests to fixed values.
fn fixes(c: &super::condition::Condition) -> bool {
    if c.if_exists || c.qualifier == SetQualifier::ForAllValues {
        return false;
    }
    match (&c.operator, &c.values) {
        (Operator::IpAddress, Values::Nets(nets)) => {
            c.key == "aws:sourceip"
                && nets
                    .iter()
                    .all(|n| n.prefix >= if n.addr.is_ipv4() { 8 } else { 32 })
        }
        (
            Operator::StringEquals
            | Operator::StringEqualsIgnoreCase
            | Operator::ArnEquals
            | Operator::StringLike
            | Operator::ArnLike,
            Values::Strings(values),
        ) => FIXING_KEYS.contains(&c.key.as_str()) && values.iter().all(|v| !glob::has_wildcard(v)),
        _ => false,
    }
}
