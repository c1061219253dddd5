//! The loop: one thread takes requests from tiny_http and hands each to
//! `routes::handle`.

use std::io::Read;
use std::time::Instant;

use crate::routes::{self, App, Method, Request};

pub fn serve(server: tiny_http::Server, mut app: App, max_body: usize) {
    for mut rq in server.incoming_requests() {
        let started = Instant::now();
        let method = Method::parse(rq.method().as_str());
        let url = rq.url().to_owned();
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (url.as_str(), None),
        };
        let content_type = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Content-Type"))
            .map(|h| h.value.as_str().to_owned());
        let mut body = Vec::new();
        let read = rq.as_reader().take(max_body as u64 + 1).read_to_end(&mut body);
        let response = if read.is_err() {
            routes::Response::error(400, "could not read the body")
        } else if body.len() > max_body {
            routes::Response::error(413, "body too large")
        } else {
            routes::handle(&mut app, &Request { method, path, query, content_type: content_type.as_deref(), body: &body })
        };
        eprintln!(
            "{} {} {} {:.1}ms {}",
            rq.method(),
            path,
            response.status,
            started.elapsed().as_secs_f64() * 1000.0,
            response.note
        );
        let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
        if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", response.content_type) {
            out.add_header(h);
        }
        if let Some(allow) = response.allow {
            if let Ok(h) = tiny_http::Header::from_bytes("Allow", allow) {
                out.add_header(h);
            }
        }
        let _ = rq.respond(out);
    }
}
