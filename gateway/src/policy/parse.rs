//! A bucket policy's JSON into a [`Policy`], or the reason S3 gives for
//! refusing it (`MalformedPolicy`, with the message as S3 words it where
//! known).
//!
//! Checks: valid JSON object; `Version` absent or `2012-10-17` /
//! `2008-10-17`; `Statement` one object or a non-empty list; each
//! statement has `Effect` (Allow/Deny), exactly one of
//! `Principal`/`NotPrincipal`, of `Action`/`NotAction`, of
//! `Resource`/`NotResource`; each action is `*` or `s3:` followed by a
//! known action or a wildcard pattern; each resource is an ARN in this
//! bucket (`arn:aws:s3:::BUCKET` or `arn:aws:s3:::BUCKET/...`); a
//! statement whose actions (all without wildcards) apply to none of its
//! resources is refused; condition operators and their values must parse.

use serde_json::{Map, Value};

use super::actions::{level_of, Level};
use super::condition::{parse_date, Cidr, Condition, Operator, SetQualifier, Values};
use super::glob::has_wildcard;
use super::{Effect, Element, Policy, Principals, Statement, MAX_POLICY_BYTES};

/// Why a policy is refused: the `MalformedPolicy` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn bad(message: impl Into<String>) -> Malformed {
    Malformed(message.into())
}

const TOP_FIELDS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Parses and validates the policy of bucket `bucket`.
pub fn parse(bytes: &[u8], bucket: &str) -> Result<Policy, Malformed> {
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(bad(format!(
            "Policies must be no larger than {MAX_POLICY_BYTES} bytes"
        )));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| bad("This policy contains invalid Json"))?;
    let Value::Object(top) = value else {
        return Err(bad("This policy contains invalid Json"));
    };
    for name in top.keys() {
        if !TOP_FIELDS.contains(&name.as_str()) {
            return Err(bad(format!("Unknown field {name}")));
        }
    }
    match top.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return Err(bad("The policy must contain a valid version string")),
    }
    let statements = match top.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(bad("Statement is not a valid list of statements")),
        None => return Err(bad("Missing required field Statement")),
    };
    let statements = statements
        .into_iter()
        .map(|s| match s {
            Value::Object(fields) => statement(fields, bucket),
            _ => Err(bad("Statement is not a valid list of statements")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy { statements })
}

/// A string or a list of strings (`"a"`, `["a", "b"]`).
fn strings(value: &Value, what: &str) -> Result<Vec<String>, Malformed> {
    let list = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(format!("{what} must be a string or a list of strings"))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad(format!("{what} must be a string or a list of strings"))),
    };
    Ok(list)
}

/// The one of `plain` / `not` present; both or neither is an error.
fn one_of<'a>(
    fields: &'a Map<String, Value>,
    plain: &str,
    not: &str,
) -> Result<(bool, &'a Value), Malformed> {
    match (fields.get(plain), fields.get(not)) {
        (Some(v), None) => Ok((false, v)),
        (None, Some(v)) => Ok((true, v)),
        (Some(_), Some(_)) => Err(bad(format!(
            "A statement cannot have both {plain} and {not}"
        ))),
        (None, None) => Err(bad(format!("Missing required field {plain}"))),
    }
}

fn statement(fields: &Map<String, Value>, bucket: &str) -> Result<Statement, Malformed> {
    for name in fields.keys() {
        if !STATEMENT_FIELDS.contains(&name.as_str()) {
            return Err(bad(format!("Unknown field {name}")));
        }
    }
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("Sid must be a string")),
    };
    let effect = match fields.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => return Err(bad(format!("Invalid effect: {e}"))),
        Some(_) => return Err(bad("Invalid effect")),
        None => return Err(bad("Missing required field Effect")),
    };
    let (not, value) = one_of(fields, "Principal", "NotPrincipal")?;
    let principal = Element {
        not,
        items: principals(value)?,
    };
    let (not, value) = one_of(fields, "Action", "NotAction")?;
    let action = Element {
        not,
        items: actions(value)?,
    };
    let (not, value) = one_of(fields, "Resource", "NotResource")?;
    let resource = Element {
        not,
        items: resources(value, bucket)?,
    };
    if !action.not && !resource.not {
        check_applies(&action.items, &resource.items)?;
    }
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => conditions(block)?,
        Some(_) => return Err(bad("Condition must be an object")),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn principals(value: &Value) -> Result<Principals, Malformed> {
    let invalid = || bad("Invalid principal in policy");
    let mut keys = Vec::new();
    match value {
        Value::String(s) if s == "*" => return Ok(Principals::Anyone),
        Value::Object(map) if !map.is_empty() => {
            for (kind, names) in map {
                let names = strings(names, "Principal").map_err(|_| invalid())?;
                for name in names {
                    let key = match kind.as_str() {
                        "AWS" if name == "*" => return Ok(Principals::Anyone),
                        "AWS" => key_of_aws_name(&name).ok_or_else(invalid)?,
                        "CanonicalUser" if is_key_id(&name) => name,
                        _ => return Err(invalid()),
                    };
                    keys.push(key);
                }
            }
        }
        _ => return Err(invalid()),
    }
    Ok(Principals::Keys(keys))
}

/// The key id an `AWS` principal names: the id itself, or an IAM user ARN
/// whose last path segment is the id.
fn key_of_aws_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("arn:aws:iam::") {
        let (_account, resource) = rest.split_once(':')?;
        let user = resource.strip_prefix("user/")?;
        let id = user.rsplit('/').next()?;
        return is_key_id(id).then(|| id.to_string());
    }
    (is_key_id(name) && !(name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())))
        .then(|| name.to_string())
}

/// What an access key id may look like.
fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn actions(value: &Value) -> Result<Vec<String>, Malformed> {
    let list = strings(value, "Action")?;
    for a in &list {
        if a == "*" {
            continue;
        }
        let valid = match a.split_once(':') {
            Some((service, name)) if service.eq_ignore_ascii_case("s3") && !name.is_empty() => {
                has_wildcard(name) || level_of(a).is_some()
            }
            _ => false,
        };
        if !valid {
            return Err(bad("Policy has invalid action"));
        }
    }
    Ok(list)
}

fn resources(value: &Value, bucket: &str) -> Result<Vec<String>, Malformed> {
    let list = strings(value, "Resource")?;
    for r in &list {
        let in_bucket = r.strip_prefix("arn:aws:s3:::").is_some_and(|rest| {
            rest == bucket
                || rest
                    .strip_prefix(bucket)
                    .is_some_and(|tail| tail.starts_with('/'))
        });
        if !in_bucket {
            return Err(bad("Policy has invalid resource"));
        }
    }
    Ok(list)
}

/// Refuses a statement none of whose (explicit) actions applies to any of
/// its resources.
fn check_applies(actions: &[String], resources: &[String]) -> Result<(), Malformed> {
    if actions.iter().any(|a| a == "*" || has_wildcard(a)) {
        return Ok(());
    }
    let object = resources.iter().any(|r| r.contains('/'));
    let bucket = resources.iter().any(|r| !r.contains('/'));
    let applies = actions.iter().any(|a| match level_of(a) {
        Some(Level::Object) => object,
        Some(Level::Bucket) | Some(Level::Service) => bucket,
        None => true,
    });
    if applies {
        Ok(())
    } else {
        Err(bad("Action does not apply to any resource(s) in statement"))
    }
}

fn conditions(block: &Map<String, Value>) -> Result<Vec<Condition>, Malformed> {
    let mut out = Vec::new();
    for (name, keys) in block {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name.as_str())
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let operator = Operator::parse(base)
            .filter(|op| !(if_exists && *op == Operator::Null))
            .ok_or_else(|| bad(format!("Invalid Condition type : {name}")))?;
        let Value::Object(keys) = keys else {
            return Err(bad(format!("Invalid Condition block for {name}")));
        };
        if keys.is_empty() {
            return Err(bad(format!("Invalid Condition block for {name}")));
        }
        for (key, values) in keys {
            let raw =
                scalars(values).ok_or_else(|| bad(format!("Invalid Condition value for {key}")))?;
            let values = condition_values(operator, &raw)
                .ok_or_else(|| bad(format!("Invalid Condition value for {key}")))?;
            out.push(Condition {
                operator,
                qualifier,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

/// A condition's values as text: strings, numbers and booleans, alone or
/// in a non-empty list.
fn scalars(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => Some(vec![one(v)?]),
    }
}

fn condition_values(op: Operator, raw: &[String]) -> Option<Values> {
    use Operator::*;
    Some(match op {
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => Values::Numbers(
            raw.iter()
                .map(|r| r.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
                .collect::<Option<_>>()?,
        ),
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            Values::Dates(raw.iter().map(|r| parse_date(r)).collect::<Option<_>>()?)
        }
        Bool | Null => Values::Bools(
            raw.iter()
                .map(|r| r.to_ascii_lowercase().parse::<bool>().ok())
                .collect::<Option<_>>()?,
        ),
        IpAddress | NotIpAddress => {
            Values::Nets(raw.iter().map(|r| Cidr::parse(r)).collect::<Option<_>>()?)
        }
        _ => Values::Strings(raw.to_vec()),
    })
}
