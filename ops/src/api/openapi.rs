//! The OpenAPI 3.0 document of the served actions, generated from the action table.

use super::table::{Access, ParamSpec, Ty, COMMON};
use serde_json::{json, Map, Value};

fn schema(ty: Ty) -> Value {
    match ty {
        Ty::Str | Ty::Indexed => json!({"type": "string"}),
        Ty::Id => json!({"type": "string", "pattern": "^[0-9]+$"}),
        Ty::Int => json!({"type": "integer"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::IdList => {
            json!({"type": "string", "description": "JSON array of ids, e.g. [\"1\",\"2\"]"})
        }
        Ty::Json => json!({"type": "string", "description": "JSON text"}),
    }
}

fn parameter(p: &ParamSpec) -> Value {
    let name = if p.ty == Ty::Indexed {
        format!("{}.N", p.name)
    } else {
        p.name.to_string()
    };
    json!({"name": name, "in": "query", "required": p.required, "schema": schema(p.ty)})
}

fn access_note(a: Access) -> &'static str {
    match a {
        Access::Write => "Admin keys only.",
        Access::Read => "Admin and Auditor keys.",
        Access::ForUser => "Admin and Auditor keys; Operator keys for their own UserId.",
        Access::Token => "Admin and Operator keys (acting as the key's user).",
    }
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for a in super::actions::all() {
        // A common parameter an action declares itself (ProjectId) is listed once, as declared.
        let common = COMMON
            .iter()
            .filter(|c| a.params.iter().all(|p| p.name != c.name));
        let params: Vec<Value> = common.chain(a.params).map(parameter).collect();
        let op = json!({
            "operationId": a.name,
            "summary": a.summary,
            "description": access_note(a.access),
            "parameters": params,
            "responses": {
                "200": {"description": "Success; the body carries RequestId.",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "Error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        paths.insert(format!("/?Action={}", a.name), json!({ "post": op }));
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Portunus management API (Bastionhost 2019-12-09 compatible)",
                 "version": super::API_VERSION},
        "paths": paths,
        "components": {
            "securitySchemes": {"acs3": {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "ACS3-HMAC-SHA256 as the Alibaba Cloud SDK signs requests"}},
            "schemas": {"Error": {"type": "object", "properties": {
                "RequestId": {"type": "string"}, "Code": {"type": "string"},
                "Message": {"type": "string"}}}}
        },
        "security": [{"acs3": []}]
    })
}
