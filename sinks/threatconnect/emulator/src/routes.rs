//! Request dispatch: routing under `/api`, fault injection, authentication, then the handler.
//!
//! Order per request: a fault that responds or drops fires first (as a proxy in front of the
//! instance would), then authentication, then the endpoint handler, then a delay or a drop
//! after acceptance. Every API request is written to the request log once.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::{DATE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response};

use crate::admin;
use crate::api::{self, Query};
use crate::auth::{AuthContext, authenticate};
use crate::faults::{Endpoint, FaultAction, RetryAfter};
use crate::response::{Body, failure, not_found, with_body};
use crate::state::{RequestRecord, Shared};

/// Returned to hyper to close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by fault injection")]
pub struct ConnectionDropped;

/// A matched API route.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Create,
    CreateAndUpload,
    Upload(u64),
    Status(u64),
    Errors(u64),
    Results(u64),
    Owners,
    IndicatorTypes(Option<String>),
    AttributeTypes,
}

impl Route {
    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Create => Endpoint::Create,
            Route::CreateAndUpload => Endpoint::CreateAndUpload,
            Route::Upload(_) => Endpoint::Upload,
            Route::Status(_) => Endpoint::Status,
            Route::Errors(_) => Endpoint::Errors,
            Route::Results(_) => Endpoint::Results,
            Route::Owners => Endpoint::Owners,
            Route::IndicatorTypes(_) => Endpoint::IndicatorTypes,
            Route::AttributeTypes => Endpoint::AttributeTypes,
        }
    }
}

/// Routing failure.
enum RouteError {
    NotFound,
    MethodNotAllowed,
}

fn route(method: &Method, path: &str) -> Result<Route, RouteError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let job_id = |text: &str| text.parse::<u64>().map_err(|_| RouteError::NotFound);
    let (route, allowed) = match segments.as_slice() {
        ["v2", "batch"] => (Route::Create, Method::POST),
        ["v2", "batch", "createAndUpload"] => (Route::CreateAndUpload, Method::POST),
        ["v2", "batch", id] if *method == Method::POST => {
            (Route::Upload(job_id(id)?), Method::POST)
        }
        ["v2", "batch", id] => (Route::Status(job_id(id)?), Method::GET),
        ["v2", "batch", id, "errors"] => (Route::Errors(job_id(id)?), Method::GET),
        ["v2", "batch", id, "results"] => (Route::Results(job_id(id)?), Method::GET),
        ["v2", "owners"] => (Route::Owners, Method::GET),
        ["v2", "types", "indicatorTypes"] => (Route::IndicatorTypes(None), Method::GET),
        ["v2", "types", "indicatorTypes", name] => (
            Route::IndicatorTypes(Some(api_percent_decode(name))),
            Method::GET,
        ),
        ["v3", "attributeTypes"] => (Route::AttributeTypes, Method::GET),
        _ => return Err(RouteError::NotFound),
    };
    if *method != allowed {
        return Err(RouteError::MethodNotAllowed);
    }
    Ok(route)
}

fn api_percent_decode(segment: &str) -> String {
    Query::parse(Some(&format!("v={segment}")))
        .get("v")
        .unwrap_or_default()
        .to_owned()
}

/// Handles one request of any kind: admin under `/_emulator`, the API under `/api`.
pub async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, ConnectionDropped> {
    if let Some(admin_path) = request.uri().path().strip_prefix("/_emulator") {
        let admin_path = admin_path.to_owned();
        return Ok(admin::handle(&shared, request, &admin_path).await);
    }

    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |target| target.as_str().to_owned(),
    );
    let record = RequestRecord {
        at_ms: shared.now_ms(),
        method: method.to_string(),
        target: target.clone(),
        endpoint: None,
        status: None,
        auth: None,
        fault: None,
    };
    // The guard logs the request even when the client hangs up first and hyper drops this
    // future, as happens to an upload held by a delay fault.
    let mut logged = LoggedRequest {
        shared: Arc::clone(&shared),
        record: Some(record),
    };
    let record = logged.record.as_mut().expect("record is set until drop");

    let mut result = handle_api(&shared, request, record).await;
    record.status = result
        .as_ref()
        .ok()
        .map(|response| response.status().as_u16());
    if let Ok(response) = result.as_mut() {
        // The Date header follows the emulator clock, so a skewed clock shows as it does on a
        // real server whose clock differs from the client's.
        let now = UNIX_EPOCH + Duration::from_millis(shared.now_ms());
        if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
            response.headers_mut().insert(DATE, value);
        }
    }
    result
}

/// Logs an API request when dropped, whether or not its response was sent.
struct LoggedRequest {
    shared: Arc<Shared>,
    record: Option<RequestRecord>,
}

impl Drop for LoggedRequest {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            tracing::debug!(
                method = %record.method,
                target = %record.target,
                status = ?record.status,
                fault = ?record.fault,
                "API request handled."
            );
            self.shared.record_request(record);
        }
    }
}

async fn handle_api(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    record: &mut RequestRecord,
) -> Result<Response<Body>, ConnectionDropped> {
    let Some(api_path) = request.uri().path().strip_prefix("/api") else {
        return Ok(not_found());
    };
    let route = match route(request.method(), api_path) {
        Ok(route) => route,
        Err(RouteError::NotFound) => return Ok(not_found()),
        Err(RouteError::MethodNotAllowed) => {
            return Ok(failure(
                405,
                "The request method is not supported for this resource",
            ));
        }
    };
    let endpoint = route.endpoint();
    record.endpoint = Some(endpoint);

    let fault = shared.lock().faults.take(endpoint);
    if let Some(action) = &fault {
        record.fault = Some(fault_name(action));
        tracing::info!(?endpoint, fault = %fault_name(action), "Injecting fault.");
    }
    match fault {
        Some(FaultAction::Respond {
            status,
            retry_after,
            body,
            content_type,
        }) => {
            return Ok(fault_response(
                shared,
                status,
                retry_after,
                body,
                content_type,
            ));
        }
        Some(FaultAction::Drop) => return Err(ConnectionDropped),
        _ => {}
    }

    let now = shared.now_secs();
    let token_expired = shared.lock().faults.token_expired;
    let context = AuthContext {
        credentials: &shared.config.credentials,
        now,
        timestamp_window_secs: shared.config.timestamp_window_secs,
        token_expired,
    };
    let method = request.method().as_str().to_owned();
    match authenticate(&context, request.headers(), &method, &record.target) {
        Ok(auth) => record.auth = Some(auth.as_str()),
        Err(error) => {
            tracing::debug!(target = %record.target, %error, "Request not authenticated.");
            return Ok(failure(error.status(), &error.to_string()));
        }
    }

    let response = dispatch(shared, route, request).await;
    match fault {
        Some(FaultAction::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok(response)
        }
        Some(FaultAction::DropAfterAccept) if response.status().is_success() => {
            Err(ConnectionDropped)
        }
        _ => Ok(response),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    route: Route,
    request: Request<Incoming>,
) -> Response<Body> {
    let query = Query::parse(request.uri().query());
    let (parts, body) = request.into_parts();
    match route {
        Route::Create => api::create(shared, body).await,
        Route::CreateAndUpload => {
            api::create_and_upload(shared, &parts.headers, &query, body).await
        }
        Route::Upload(id) => api::upload(shared, id, &parts.headers, body).await,
        Route::Status(id) => api::status(shared, id, &query),
        Route::Errors(id) => api::errors(shared, id),
        Route::Results(id) => api::results(shared, id, &query),
        Route::Owners => api::owners(shared),
        Route::IndicatorTypes(name) => api::indicator_types(name.as_deref(), &query),
        Route::AttributeTypes => api::attribute_types(shared),
    }
}

fn fault_name(action: &FaultAction) -> String {
    match action {
        FaultAction::Respond { status, .. } => format!("respond {status}"),
        FaultAction::Drop => "drop".to_owned(),
        FaultAction::DropAfterAccept => "drop after accept".to_owned(),
        FaultAction::Delay { millis } => format!("delay {millis} ms"),
    }
}

fn fault_response(
    shared: &Shared,
    status: u16,
    retry_after: Option<RetryAfter>,
    body: Option<String>,
    content_type: Option<String>,
) -> Response<Body> {
    let mut response = match body {
        Some(body) => {
            let content_type = content_type.as_deref().unwrap_or("application/json");
            with_body(status, content_type, body)
        }
        None => {
            let reason = hyper::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Injected failure");
            failure(status, reason)
        }
    };

    let header = match retry_after {
        None => return response,
        Some(RetryAfter::Seconds(seconds)) => seconds.to_string(),
        Some(RetryAfter::HttpDateIn(seconds)) => {
            let at = std::time::UNIX_EPOCH
                + Duration::from_millis(shared.now_ms())
                + Duration::from_secs(seconds);
            httpdate::fmt_http_date(at)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_batch_paths() {
        let post = Method::POST;
        let get = Method::GET;
        assert!(matches!(route(&post, "/v2/batch"), Ok(Route::Create)));
        assert!(matches!(
            route(&post, "/v2/batch/createAndUpload"),
            Ok(Route::CreateAndUpload)
        ));
        assert!(matches!(
            route(&post, "/v2/batch/12"),
            Ok(Route::Upload(12))
        ));
        assert!(matches!(route(&get, "/v2/batch/12"), Ok(Route::Status(12))));
        assert!(matches!(
            route(&get, "/v2/batch/12/errors"),
            Ok(Route::Errors(12))
        ));
        assert!(matches!(
            route(&get, "/v2/batch/x/errors"),
            Err(RouteError::NotFound)
        ));
        assert!(matches!(
            route(&get, "/v2/batch"),
            Err(RouteError::MethodNotAllowed)
        ));
        let host = route(&get, "/v2/types/indicatorTypes/Registry%20Key");
        assert_eq!(
            host.ok(),
            Some(Route::IndicatorTypes(Some("Registry Key".to_owned())))
        );
    }
}
