//! The OpenAPI 3.0 document of the ticket and unit API, written by hand as JSON (see
//! ARCHITECTURE.md for why). `GET /api/v1/openapi.json` serves it without a token: it
//! describes the API, it grants nothing.

use axum::Json;
use serde_json::{json, Map, Value};

fn err(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(desc: &str, schema: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn id_param(what: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": what, "schema": { "type": "string" } })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props })
}

/// A command on one ticket: POST with an optional body, answering the ticket after it.
fn command(summary: &str, roles: &str, req: Option<Value>) -> Value {
    let mut op = json!({
        "summary": summary,
        "description": format!("Who: {roles}. Refused transitions answer 409 (wrong state) or 403 (wrong actor) and write nothing."),
        "tags": ["tickets"],
        "parameters": [id_param("ticket number, e.g. 20261123-000123")],
        "responses": {
            "200": ok("the ticket after the command", "Ticket"),
            "400": err("bad body"),
            "401": err("no or unknown token"),
            "403": err("this actor may not do that"),
            "404": err("no such ticket (or not one of this unit's)"),
            "409": err("the ticket's state does not allow it"),
            "422": err("a reason, basis or limit is missing or too long"),
        }
    });
    if let Some(r) = req {
        op["requestBody"] = body(r);
    }
    json!({ "post": op })
}

fn schemas() -> Value {
    let time = json!({ "type": "string", "format": "date-time", "nullable": true });
    json!({
        "Error": obj(&["error"], json!({ "error": { "type": "string" } })),
        "Ticket": {
            "type": "object",
            "properties": {
                "id": { "type": "string", "example": "20261123-000123" },
                "type": { "type": "string", "enum": ["consultation", "help", "suggestion", "praise", "complaint", "report", "appeal"] },
                "type_zh": { "type": "string" },
                "urgency": { "type": "string", "enum": ["normal", "special", "emergency"] },
                "line": { "type": "string", "example": "12345" },
                "requester": { "type": "string", "nullable": true, "description": "personal data" },
                "contact": { "type": "string", "nullable": true, "description": "personal data" },
                "facts": { "type": "string" },
                "address": { "type": "string", "nullable": true },
                "status": { "type": "string", "enum": ["created", "dispatched", "signed", "handled", "replied", "visited", "closed"] },
                "lead_unit": { "type": "string", "nullable": true },
                "assisting_units": { "type": "array", "items": { "type": "string" } },
                "started_at": time, "sign_due": time, "deadline": time,
                "provisional": { "type": "boolean", "description": "a deadline counted days of a year missing from the calendar" },
                "light": { "type": "string", "enum": ["none", "green", "yellow", "red"] },
                "light_next": time,
                "pending": { "type": "string", "enum": ["", "return", "extension"] },
                "call_id": { "type": "string", "nullable": true },
                "recording": { "type": "string", "nullable": true },
                "created_by": { "type": "string" },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
                "seq": { "type": "integer", "description": "seq of the last history row" }
            }
        },
        "TicketList": { "type": "object", "properties": { "tickets": { "type": "array", "items": { "$ref": "#/components/schemas/Ticket" } } } },
        "HistoryEntry": {
            "type": "object",
            "properties": {
                "seq": { "type": "integer" },
                "at": { "type": "string", "format": "date-time" },
                "actor": { "type": "string" },
                "role": { "type": "string", "enum": ["agent", "unit", "supervisor", "admin", "system"] },
                "kind": { "type": "string" },
                "why": { "type": "string", "nullable": true },
                "payload": { "type": "object" }
            }
        },
        "History": { "type": "object", "properties": { "ticket": { "type": "string" }, "events": { "type": "array", "items": { "$ref": "#/components/schemas/HistoryEntry" } } } },
        "NewTicket": obj(&["type", "facts"], json!({
            "type": { "type": "string", "description": "consultation, help, suggestion, praise, complaint, report, appeal (or the Chinese word)" },
            "urgency": { "type": "string", "enum": ["normal", "special", "emergency"] },
            "line": { "type": "string", "default": "12345" },
            "requester": { "type": "string" },
            "contact": { "type": "string" },
            "facts": { "type": "string" },
            "address": { "type": "string" },
            "call_id": { "type": "string", "description": "the call it came from: a call in progress (its event-stream number or record id) or a call record, else 422; the ticket keeps the record id; line and contact default to the call's, the recording shows once the call has ended" },
            "recording": { "type": "string" },
            "dispatch_to": { "type": "string", "description": "dispatch at once to this unit" },
            "assisting": { "type": "array", "items": { "type": "string" } },
            "answer": { "type": "string", "description": "answered on the phone (直接办结): close at once with this answer; consultations by default; not with dispatch_to" }
        })),
        "Contact": obj(&["name", "phone"], json!({ "name": { "type": "string" }, "phone": { "type": "string" } })),
        "Unit": obj(&["name"], json!({
            "id": { "type": "string" },
            "name": { "type": "string" },
            "parent": { "type": "string", "nullable": true },
            "contacts": { "type": "array", "items": { "$ref": "#/components/schemas/Contact" }, "description": "admins only" }
        })),
        "UnitList": { "type": "object", "properties": { "units": { "type": "array", "items": { "$ref": "#/components/schemas/Unit" } } } }
    })
}

fn text(desc: &str) -> Value {
    json!({ "type": "string", "description": desc })
}

/// The whole document.
pub fn spec() -> Value {
    let q = |name: &str, desc: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": desc, "schema": schema });
    let s = || json!({ "type": "string" });
    let mut paths = Map::new();
    paths.insert("/api/v1/tickets".into(), json!({
        "post": {
            "summary": "Create a ticket (optionally from a call, and dispatched at once)",
            "description": "Who: agent, supervisor, admin.",
            "tags": ["tickets"],
            "requestBody": body(json!({ "$ref": "#/components/schemas/NewTicket" })),
            "responses": { "201": ok("created", "Ticket"), "400": err("bad body"), "401": err("no token"), "403": err("units do not create tickets") }
        },
        "get": {
            "summary": "Search tickets, newest first",
            "description": "A unit token sees only its own tickets (lead or assisting).",
            "tags": ["tickets"],
            "parameters": [
                q("status", "created, dispatched, signed, handled, replied, visited, closed", s()),
                q("type", "ticket type", s()),
                q("unit", "lead or assisting unit", s()),
                q("line", "hotline number", s()),
                q("light", "none, green, yellow, red", s()),
                q("overdue", "only open tickets past their handling deadline", json!({ "type": "boolean" })),
                q("from", "created at or after (RFC 3339)", json!({ "type": "string", "format": "date-time" })),
                q("to", "created before (RFC 3339)", json!({ "type": "string", "format": "date-time" })),
                q("q", "text in the number, facts or address", s()),
                q("limit", "1..500, default 50", json!({ "type": "integer" })),
                q("offset", "rows to skip", json!({ "type": "integer" }))
            ],
            "responses": { "200": ok("matching tickets", "TicketList"), "400": err("bad filter"), "401": err("no token") }
        }
    }));
    paths.insert(
        "/api/v1/tickets/{id}".into(),
        json!({ "get": {
        "summary": "One ticket", "tags": ["tickets"], "parameters": [id_param("ticket number")],
        "responses": { "200": ok("the ticket", "Ticket"), "404": err("not found") } } }),
    );
    paths.insert("/api/v1/tickets/{id}/history".into(), json!({ "get": {
        "summary": "The ticket's whole history, oldest first (never rewritten)", "tags": ["tickets"],
        "parameters": [id_param("ticket number")],
        "responses": { "200": ok("history", "History"), "404": err("not found") } } }));
    let note = obj(&["note"], json!({ "note": text("why") }));
    let commands: Vec<(&str, Value)> = vec![
        (
            "dispatch",
            command(
                "Dispatch to a lead unit (派单), with a fresh clock",
                "agent, supervisor, admin",
                Some(obj(
                    &["unit"],
                    json!({ "unit": s(), "assisting": { "type": "array", "items": s() } }),
                )),
            ),
        ),
        (
            "sign",
            command("Sign for the ticket (签收)", "the lead unit", None),
        ),
        (
            "handle",
            command(
                "Record the handling (办理)",
                "the lead unit",
                Some(obj(
                    &["summary"],
                    json!({ "summary": text("what was done") }),
                )),
            ),
        ),
        (
            "reply",
            command("Reply to the caller (答复)", "the lead unit", None),
        ),
        (
            "return",
            command(
                "Ask to return a wrong ticket (退单)",
                "the lead unit, within the return limit",
                Some(obj(
                    &["reason", "basis"],
                    json!({ "reason": s(), "basis": text("依据"), "suggested_unit": s() }),
                )),
            ),
        ),
        (
            "return/approve",
            command(
                "Approve the return, re-dispatching if a unit is given",
                "supervisor, admin",
                Some(obj(&[], json!({ "redispatch_to": s() }))),
            ),
        ),
        (
            "return/refuse",
            command(
                "Refuse the return; the unit keeps the original clock",
                "supervisor, admin",
                Some(note.clone()),
            ),
        ),
        (
            "extension",
            command(
                "Ask for an extension (延期)",
                "the lead unit, before the deadline",
                Some(obj(
                    &["limit", "reason"],
                    json!({ "limit": text("\"5 wd\", \"4 h\" or \"1 wh\""), "reason": s() }),
                )),
            ),
        ),
        (
            "extension/approve",
            command("Approve the extension", "supervisor, admin", None),
        ),
        (
            "extension/refuse",
            command(
                "Refuse the extension",
                "supervisor, admin",
                Some(note.clone()),
            ),
        ),
        (
            "supervise",
            command(
                "Supervise (督办)",
                "supervisor, admin",
                Some(obj(
                    &["kind", "note"],
                    json!({ "kind": { "type": "string", "enum": ["phone", "meeting", "special"] }, "note": s() }),
                )),
            ),
        ),
        (
            "visit",
            command(
                "Record the return visit (回访); on a closed ticket, the call-back after an unsatisfied SMS survey answer (unsatisfied and reasonable opens it again for reopening)",
                "agent, supervisor, admin",
                Some(obj(
                    &["satisfied", "reasonable"],
                    json!({ "satisfied": { "type": "boolean" }, "reasonable": { "type": "boolean" } }),
                )),
            ),
        ),
        (
            "close",
            command("Close (办结)", "agent, supervisor, admin", None),
        ),
        (
            "close-as-repeat",
            command(
                "Close as a repeat of an earlier ticket",
                "agent, supervisor, admin, or the lead unit",
                Some(obj(
                    &["earlier", "reason"],
                    json!({ "earlier": s(), "reason": s() }),
                )),
            ),
        ),
        (
            "reopen",
            command(
                "Reopen after an unsatisfied, reasonable return visit",
                "supervisor, admin",
                None,
            ),
        ),
        (
            "answer",
            command(
                "Close with the answer given on the phone (直接办结), before dispatch",
                "the agent who took the ticket, supervisor, admin",
                Some(obj(&["reply"], json!({ "reply": s() }))),
            ),
        ),
    ];
    for (p, op) in commands {
        paths.insert(format!("/api/v1/tickets/{{id}}/{p}"), op);
    }
    paths.insert("/api/v1/tickets/{id}/assisting".into(), json!({ "put": {
        "summary": "Set the assisting units (协办)", "description": "Who: supervisor, admin.", "tags": ["tickets"],
        "parameters": [id_param("ticket number")],
        "requestBody": body(obj(&["units"], json!({ "units": { "type": "array", "items": s() } }))),
        "responses": { "200": ok("the ticket", "Ticket"), "400": err("unknown unit"), "403": err("role"), "404": err("not found") } } }));
    let unit_ref = json!({ "$ref": "#/components/schemas/Unit" });
    paths.insert("/api/v1/units".into(), json!({
        "get": { "summary": "List handling units (contacts for admins only)", "tags": ["units"],
                 "responses": { "200": ok("units", "UnitList") } },
        "post": { "summary": "Create a unit", "description": "Who: admin.", "tags": ["units"],
                  "requestBody": body(unit_ref.clone()),
                  "responses": { "201": ok("created", "Unit"), "400": err("bad body"), "403": err("admins only"), "404": err("unknown parent"), "409": err("exists") } }
    }));
    paths.insert("/api/v1/units/{id}".into(), json!({
        "get": { "summary": "One unit", "tags": ["units"], "parameters": [id_param("unit id")],
                 "responses": { "200": ok("the unit", "Unit"), "404": err("not found") } },
        "put": { "summary": "Change a unit", "description": "Who: admin.", "tags": ["units"], "parameters": [id_param("unit id")],
                 "requestBody": body(unit_ref),
                 "responses": { "200": ok("the unit", "Unit"), "403": err("admins only"), "404": err("not found") } },
        "delete": { "summary": "Remove a unit no ticket or sub-unit refers to", "description": "Who: admin.", "tags": ["units"], "parameters": [id_param("unit id")],
                    "responses": { "204": { "description": "removed" }, "403": err("admins only"), "404": err("not found"), "409": err("in use") } }
    }));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "rexian ticket API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tickets (服务工单) of the 12345 hotline: creation, dispatch, signing, handling, returns, extensions, supervision, return visits, closing, search and history; handling units."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "a token from `rexian token create`" } },
            "schemas": schemas()
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
