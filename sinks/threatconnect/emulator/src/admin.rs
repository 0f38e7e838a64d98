//! The emulator's own HTTP endpoints under `/_emulator`: read-only views for tests and the
//! run-time fault plan. They need no authentication and are never subject to faults.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::api::Query;
use crate::faults::FaultPlan;
use crate::response::{Body, json_value};
use crate::state::Shared;

/// Largest fault plan body read, in bytes.
const MAX_PLAN_BYTES: usize = 1024 * 1024;

fn error(status: u16, message: &str) -> Response<Body> {
    json_value(status, &json!({"error": message}))
}

fn to_json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_value(value) {
        Ok(value) => json_value(200, &value),
        Err(failure) => error(500, &format!("serializing the view failed: {failure}")),
    }
}

/// Handles `/_emulator/{path}`.
pub async fn handle(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    path: &str,
) -> Response<Body> {
    let query = Query::parse(request.uri().query());
    let method = request.method().clone();
    match (method, path.trim_end_matches('/')) {
        (Method::GET, "/indicators") => indicators(shared, &query),
        (Method::GET, "/jobs") => to_json(&shared.jobs()),
        (Method::GET, "/requests") => to_json(&shared.lock().requests),
        (Method::DELETE, "/requests") => {
            shared.lock().requests.clear();
            json_value(200, &json!({"cleared": true}))
        }
        (Method::GET, "/faults") => to_json(&shared.lock().faults),
        (Method::POST, "/faults") => set_faults(shared, request).await,
        (Method::DELETE, "/faults") => {
            shared.lock().faults = FaultPlan::default();
            to_json(&FaultPlan::default())
        }
        (Method::POST, "/reset") => {
            shared.reset();
            json_value(200, &json!({"reset": true}))
        }
        (Method::GET, job_path) if job_path.starts_with("/jobs/") => {
            let id = job_path.trim_start_matches("/jobs/").parse::<u64>().ok();
            let job = id.and_then(|id| shared.jobs().into_iter().find(|job| job.id == id));
            match job {
                Some(job) => to_json(&job),
                None => error(404, &format!("no job with id '{}'", &job_path[6..])),
            }
        }
        (_, other) => error(
            404,
            &format!("unknown emulator endpoint '/_emulator{other}'"),
        ),
    }
}

/// Lists stored indicators, filtered by the optional `owner`, `type` and `summary` parameters.
fn indicators(shared: &Shared, query: &Query) -> Response<Body> {
    let matches =
        |filter: &str, value: &str| query.get(filter).is_none_or(|wanted| wanted == value);
    let list: Vec<Value> = shared
        .indicators()
        .into_iter()
        .filter(|indicator| {
            matches("owner", &indicator.owner)
                && matches("type", &indicator.indicator_type)
                && matches("summary", &indicator.summary)
        })
        .filter_map(|indicator| serde_json::to_value(indicator).ok())
        .collect();
    json_value(200, &Value::Array(list))
}

async fn set_faults(shared: &Shared, request: Request<Incoming>) -> Response<Body> {
    let body = match http_body_util::Limited::new(request.into_body(), MAX_PLAN_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(failure) => return error(400, &format!("reading the fault plan failed: {failure}")),
    };
    match serde_json::from_slice::<FaultPlan>(&body) {
        Ok(plan) => {
            tracing::info!(rules = plan.rules.len(), "Fault plan replaced.");
            shared.lock().faults = plan.clone();
            to_json(&plan)
        }
        Err(failure) => error(400, &format!("invalid fault plan: {failure}")),
    }
}
