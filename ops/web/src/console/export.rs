//! The audit page's export: the sessions matching the page's filters, every page of
//! `ListSessions` (the same action, with the same checks, as the list on the page), as CSV or
//! as JSON lines, served as a file to save.

use super::Admin;
use crate::error::WebError;
use crate::login::client_of;
use crate::Web;
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;

/// The filters of `ListSessions` the export passes on.
const FILTERS: &[&str] = &[
    "SessionId",
    "UserName",
    "AssetName",
    "AccountName",
    "Protocol",
    "State",
    "NodeId",
    "ClientAddress",
    "StartTime",
    "EndTime",
];

/// The columns of the CSV file, as `ListSessions` names them.
const COLUMNS: &[&str] = &[
    "SessionId",
    "UserName",
    "AssetType",
    "AssetName",
    "AccountName",
    "Protocol",
    "NodeId",
    "ClientAddress",
    "StartTime",
    "EndTime",
    "State",
    "EndReason",
    "BytesUp",
    "BytesDown",
    "EventCount",
];

/// The API's largest page.
const PAGE_SIZE: usize = 100;

/// `GET /web/api/console/sessions/export?format=csv|jsonl&<ListSessions filters>`.
pub(crate) async fn export(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let admin = web.console_reader(&headers).await?;
    let csv = match query.get("format").map(String::as_str) {
        Some("csv") => true,
        Some("jsonl") => false,
        _ => {
            return Err(WebError::BadRequest(
                "format must be csv or jsonl".to_string(),
            ))
        }
    };
    let source = client_of(&ext).to_string();
    let rows = all_sessions(&web, &admin, &source, &query).await?;
    let (body, mime, ext) = if csv {
        (to_csv(&rows), "text/csv; charset=utf-8", "csv")
    } else {
        (to_jsonl(&rows), "application/jsonl; charset=utf-8", "jsonl")
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!("attachment; filename=\"portunus-sessions.{ext}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Every session matching the filters, newest first.
async fn all_sessions(
    web: &Web,
    admin: &Admin,
    source: &str,
    query: &BTreeMap<String, String>,
) -> Result<Vec<Value>, WebError> {
    let mut rows = Vec::new();
    for page in 1.. {
        let mut pairs: Vec<(String, String)> = FILTERS
            .iter()
            .filter_map(|f| query.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect();
        pairs.push(("Action".into(), "ListSessions".into()));
        pairs.push(("PageNumber".into(), page.to_string()));
        pairs.push(("PageSize".into(), PAGE_SIZE.to_string()));
        let answer = web.run(admin, source, pairs).await?;
        let total = answer
            .get("TotalCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let Some(Value::Array(items)) = answer.get("Sessions") else {
            return Err(WebError::Internal);
        };
        let got = items.len();
        rows.extend(items.iter().cloned());
        if got < PAGE_SIZE || rows.len() as u64 >= total {
            break;
        }
    }
    Ok(rows)
}

/// One JSON object a line.
fn to_jsonl(rows: &[Value]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.to_string());
        out.push('\n');
    }
    out
}

/// RFC 4180 CSV with a header line; times also in RFC 3339 (UTC).
fn to_csv(rows: &[Value]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str(",StartTimeUtc,EndTimeUtc\r\n");
    for r in rows {
        let mut fields: Vec<String> = COLUMNS.iter().map(|c| cell(&r[*c])).collect();
        fields.push(utc(&r["StartTime"]));
        fields.push(utc(&r["EndTime"]));
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A field: quoted when it holds a comma, a quote or a line break; text that a spreadsheet
/// would take for a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = if !v.is_number() && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Unix milliseconds as an RFC 3339 UTC time; empty for none.
fn utc(v: &Value) -> String {
    v.as_i64()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(cell(&json!("plain")), "plain");
        assert_eq!(cell(&json!("a,b")), "\"a,b\"");
        assert_eq!(cell(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(cell(&json!("=cmd|' /C calc'!A0")), "'=cmd|' /C calc'!A0");
        assert_eq!(cell(&json!(-5)), "-5");
        assert_eq!(cell(&Value::Null), "");
    }

    #[test]
    fn a_csv_line_per_session_with_utc_times() {
        let rows = vec![
            json!({"SessionId": "7", "UserName": "alice", "StartTime": 0,
                               "EndTime": null, "State": "Open"}),
        ];
        let text = to_csv(&rows);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("SessionId,UserName,AssetType"));
        assert!(lines[1].starts_with("7,alice,,"), "{}", lines[1]);
        assert!(lines[1].ends_with(",1970-01-01T00:00:00Z,"), "{}", lines[1]);
        assert_eq!(lines.len(), 3);
        assert_eq!(to_jsonl(&rows).lines().count(), 1);
    }
}
