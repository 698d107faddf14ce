//! The Lambda/HTTP adapter: a `lambda_http` request in, one call to the
//! export use case ([`crate::export::run`]), a response out. It reads what
//! only the transport knows (headers, the body, the Lambda context's request
//! id and deadline) and writes the [`Reply`] back as a response.

use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::App;
use crate::deadline::Deadline;
use crate::error::ExportError;
use crate::export::{self, Input};
use crate::jobs::{api as jobs_api, Jobs};
use crate::reply::{Reply, ReplyBody};

/// The export jobs' routes a request may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/v1/operations/export` (and any path but the jobs'
    /// routes: the export function's own route is the gateway's to choose).
    Export,
    /// `/api/v1/operations/export-jobs`.
    Jobs,
    /// `/api/v1/operations/export-jobs/{id}`.
    Job(String),
}

/// The route of `path` (a stage prefix before `/api/` is allowed).
pub fn route_of(path: &str) -> Route {
    let path = path.trim_end_matches('/');
    let prefix = jobs_api::JOBS_ROUTE;
    let Some(at) = path.find(prefix) else {
        return Route::Export;
    };
    match &path[at + prefix.len()..] {
        "" => Route::Jobs,
        rest => match rest.strip_prefix('/') {
            Some(id) if !id.contains('/') => Route::Job(id.to_string()),
            _ => Route::Export,
        },
    }
}

/// Serves one request of any route: the export, or the export jobs'.
pub async fn serve(jobs: &Jobs, req: Request) -> Response<Body> {
    let route = route_of(req.uri().path());
    let input = || Input {
        method: req.method().as_str(),
        authorization: header(&req, "authorization"),
        accept: header(&req, "accept").unwrap_or(""),
        accept_encoding: header(&req, "accept-encoding").unwrap_or(""),
        body: req.body().as_ref(),
        request_id: request_id(&req),
        deadline: request_deadline(&jobs.app, &req),
    };
    match route {
        Route::Export => response(export::run(&jobs.app, input()).await),
        Route::Jobs => response(jobs_api::submit(jobs, input()).await),
        Route::Job(id) => response(jobs_api::status(jobs, input(), &id).await),
    }
}

/// Serves one request; never fails: every error is a response (see
/// [`export::run`]).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let input = Input {
        method: req.method().as_str(),
        authorization: header(&req, "authorization"),
        accept: header(&req, "accept").unwrap_or(""),
        accept_encoding: header(&req, "accept-encoding").unwrap_or(""),
        body: req.body().as_ref(),
        request_id: request_id(&req),
        deadline: request_deadline(app, &req),
    };
    response(export::run(app, input).await)
}

/// The deadline of `req`: the Lambda context's when it has one that can be
/// right ([`Deadline::from_runtime`]), otherwise `app.timeout` from now.
pub fn request_deadline(app: &App, req: &Request) -> Deadline {
    match req.lambda_context_ref() {
        Some(context) => Deadline::from_runtime(context.deadline, app.timeout),
        None => Deadline::after(app.timeout),
    }
}

/// The request id: the Lambda context's, or a new UUID where there is none
/// (the local server, tests).
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The response of an error (see [`Reply::error`]).
pub fn error_response(err: &ExportError) -> Response<Body> {
    response(Reply::error(err))
}

/// `reply` as a `lambda_http` response. A header value the transport
/// refuses (never expected: names are static, values are ours) is answered
/// as an internal error.
pub fn response(reply: Reply) -> Response<Body> {
    build(reply).unwrap_or_else(|e| {
        let err = ExportError::internal(format!("building the response: {e}"));
        tracing::error!(error = %err, "response not built");
        build(Reply::error(&err)).expect("an error reply has static headers")
    })
}

fn build(reply: Reply) -> Result<Response<Body>, http::Error> {
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    builder.body(match reply.body {
        ReplyBody::Text(text) => Body::Text(text),
        ReplyBody::Binary(bytes) => Body::Binary(bytes),
    })
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route_of("/api/v1/operations/export"), Route::Export);
        assert_eq!(route_of("/api/v1/operations/export-jobs"), Route::Jobs);
        assert_eq!(
            route_of("/prod/api/v1/operations/export-jobs/"),
            Route::Jobs
        );
        assert_eq!(
            route_of("/api/v1/operations/export-jobs/0b7f1c52-3f1e-4a53-9d2e-2c8f7f0d9a11"),
            Route::Job("0b7f1c52-3f1e-4a53-9d2e-2c8f7f0d9a11".into())
        );
        assert_eq!(
            route_of("/api/v1/operations/export-jobs/a/b"),
            Route::Export
        );
    }
}
