//! What a DynamoDB request asks IAM for: its action, its table, and the
//! `dynamodb:LeadingKeys` context key, which moto never computes.
//!
//! `LeadingKeys` are the partition-key values of every key the request
//! touches: the `Key` of `GetItem`, `DeleteItem` and `UpdateItem`, the
//! `Item` of `PutItem`, and the partition-key equality of a `Query`'s key
//! condition (and of its `ExclusiveStartKey`). A `Scan` has none, so a
//! `ForAllValues:` condition on it holds vacuously, as on AWS: only the
//! policy's actions keep a tenant from scanning. Requests that carry keys
//! this front does not read (batches, transactions) are refused outright,
//! so the local stack is never more permissive than AWS.

use serde_json::Value;

/// A DynamoDB request as IAM evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRequest {
    /// `dynamodb:<Operation>`.
    pub action: String,
    /// The table named in the request.
    pub table: String,
    /// `dynamodb:LeadingKeys`; `None` when the request has no keys (Scan,
    /// DescribeTable).
    pub leading_keys: Option<Vec<String>>,
}

/// Why a request cannot be evaluated: refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The string value of an attribute (`{"S": "..."}`), or its number's text.
fn scalar(value: &Value) -> Option<String> {
    value
        .get("S")
        .or_else(|| value.get("N"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The partition-key values a `Query`'s key condition fixes.
fn query_keys(body: &Value, partition_key: &str) -> Result<Vec<String>, Unreadable> {
    let names = body.get("ExpressionAttributeNames");
    let values = body.get("ExpressionAttributeValues");
    let resolve_name = |token: &str| -> String {
        if token.starts_with('#') {
            names
                .and_then(|n| n.get(token))
                .and_then(Value::as_str)
                .unwrap_or(token)
                .to_owned()
        } else {
            token.to_owned()
        }
    };
    let mut keys = Vec::new();
    if let Some(expression) = body.get("KeyConditionExpression").and_then(Value::as_str) {
        for part in expression.split(" AND ").flat_map(|p| p.split(" and ")) {
            let part = part.trim().trim_start_matches('(').trim_end_matches(')');
            let Some((left, right)) = part.split_once('=') else {
                continue;
            };
            let (left, right) = (left.trim(), right.trim());
            let (name, placeholder) = if right.starts_with(':') {
                (left, right)
            } else if left.starts_with(':') {
                (right, left)
            } else {
                continue;
            };
            if resolve_name(name) == partition_key {
                let value = values
                    .and_then(|v| v.get(placeholder))
                    .and_then(scalar)
                    .ok_or_else(|| Unreadable(format!("no value for {placeholder}")))?;
                keys.push(value);
            }
        }
    } else if let Some(list) = body
        .get("KeyConditions")
        .and_then(|c| c.get(partition_key))
        .and_then(|c| c.get("AttributeValueList"))
        .and_then(Value::as_array)
    {
        keys.extend(list.iter().filter_map(scalar));
    }
    if keys.is_empty() {
        return Err(Unreadable(
            "a Query without an equality on the partition key".to_owned(),
        ));
    }
    if let Some(start) = body
        .get("ExclusiveStartKey")
        .and_then(|k| k.get(partition_key))
    {
        keys.push(scalar(start).ok_or_else(|| Unreadable("ExclusiveStartKey".to_owned()))?);
    }
    Ok(keys)
}

/// The request behind `X-Amz-Target: DynamoDB_20120810.<Operation>` with
/// JSON `body`, given the partition key of the table it names (looked up
/// by `partition_key_of`; `None` for an unknown table).
///
/// ```
/// use local_front::dynamodb::table_request;
/// let body = br#"{"TableName":"items","Key":{"tenant_id":{"S":"t1"},"item_id":{"S":"a"}}}"#;
/// let request = table_request("DynamoDB_20120810.GetItem", body, |_| Some("tenant_id".into())).unwrap();
/// assert_eq!(request.action, "dynamodb:GetItem");
/// assert_eq!(request.leading_keys, Some(vec!["t1".to_owned()]));
/// ```
pub fn table_request(
    target: &str,
    body: &[u8],
    partition_key_of: impl Fn(&str) -> Option<String>,
) -> Result<TableRequest, Unreadable> {
    let operation = target
        .split_once('.')
        .map(|(_, op)| op)
        .ok_or_else(|| Unreadable(format!("target {target}")))?;
    let body: Value = serde_json::from_slice(body).map_err(|e| Unreadable(format!("body: {e}")))?;
    let table = body
        .get("TableName")
        .and_then(Value::as_str)
        .ok_or_else(|| Unreadable(format!("{operation} without a TableName")))?
        .to_owned();
    let partition_key =
        partition_key_of(&table).ok_or_else(|| Unreadable(format!("unknown table {table}")))?;
    let one = |field: &str| -> Result<Vec<String>, Unreadable> {
        body.get(field)
            .and_then(|k| k.get(&partition_key))
            .and_then(scalar)
            .map(|v| vec![v])
            .ok_or_else(|| Unreadable(format!("{operation} without its partition key")))
    };
    let leading_keys = match operation {
        "GetItem" | "DeleteItem" | "UpdateItem" => Some(one("Key")?),
        "PutItem" => Some(one("Item")?),
        "Query" => Some(query_keys(&body, &partition_key)?),
        "Scan" | "DescribeTable" => None,
        other => return Err(Unreadable(format!("{other} is not modelled locally"))),
    };
    Ok(TableRequest {
        action: format!("dynamodb:{operation}"),
        table,
        leading_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, body: &str) -> Result<TableRequest, Unreadable> {
        table_request(target, body.as_bytes(), |t| {
            (t == "items").then(|| "tenant_id".to_owned())
        })
    }

    #[test]
    fn every_key_of_every_item_call_is_a_leading_key() {
        let keys = |target: &str, body: &str| request(target, body).unwrap().leading_keys;
        assert_eq!(
            keys(
                "DynamoDB_20120810.PutItem",
                r#"{"TableName":"items","Item":{"tenant_id":{"S":"t2"},"item_id":{"S":"a"}}}"#
            ),
            Some(vec!["t2".to_owned()])
        );
        assert_eq!(
            keys(
                "DynamoDB_20120810.Query",
                r##"{"TableName":"items","KeyConditionExpression":"#pk = :t AND begins_with(item_id, :p)",
                    "ExpressionAttributeNames":{"#pk":"tenant_id"},
                    "ExpressionAttributeValues":{":t":{"S":"t1"},":p":{"S":"x"}},
                    "ExclusiveStartKey":{"tenant_id":{"S":"t2"},"item_id":{"S":"z"}}}"##
            ),
            Some(vec!["t1".to_owned(), "t2".to_owned()]),
            "a start key in another partition is a leading key too"
        );
        assert_eq!(
            keys(
                "DynamoDB_20120810.Query",
                r#"{"TableName":"items","KeyConditions":{"tenant_id":{"AttributeValueList":[{"S":"t3"}],"ComparisonOperator":"EQ"}}}"#
            ),
            Some(vec!["t3".to_owned()])
        );
        assert_eq!(
            keys("DynamoDB_20120810.Scan", r#"{"TableName":"items"}"#),
            None
        );
    }

    #[test]
    fn what_cannot_be_read_is_refused() {
        for (target, body) in [
            (
                "DynamoDB_20120810.GetItem",
                r#"{"TableName":"other","Key":{}}"#,
            ),
            (
                "DynamoDB_20120810.GetItem",
                r#"{"TableName":"items","Key":{}}"#,
            ),
            (
                "DynamoDB_20120810.BatchGetItem",
                r#"{"TableName":"items","RequestItems":{}}"#,
            ),
            (
                "DynamoDB_20120810.Query",
                r#"{"TableName":"items","KeyConditionExpression":"item_id = :a","ExpressionAttributeValues":{":a":{"S":"x"}}}"#,
            ),
            ("DynamoDB_20120810.GetItem", "not json"),
        ] {
            assert!(request(target, body).is_err(), "{target} {body}");
        }
    }
}
