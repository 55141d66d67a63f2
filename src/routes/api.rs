//! The route table: every API handler is named once, in an [`api!`] list, and that list both
//! registers it with actix and describes it in the OpenAPI document.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, parameters, answers). The
//! [`api!`] macro derives a utoipa document from the list (utoipa collects the response types'
//! schemas from the handlers), and [`register`] walks that document's operations to register
//! each handler at its path and method, found by its operation id (the handler's name). So a
//! handler cannot be served without being described, or described without being served, and a
//! path's `405` names exactly the methods the document gives it.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, Route, http::Method, web};
use utoipa::openapi::{
    OpenApi,
    path::{Operation, PathItem},
};

use crate::error::ApiError;

/// Builds the actix route of one handler for one method.
pub type Handler = fn(Method) -> Route;

/// Declares a list of handlers as one API: `$doc` is the utoipa document derived from their
/// `#[utoipa::path]`s, `$table()` the handlers by operation id.
macro_rules! api {
    ($(#[$meta:meta])* $doc:ident, $table:ident: $($module:ident :: $handler:ident),+ $(,)?) => {
        $(#[$meta])*
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),+))]
        pub struct $doc;

        /// The handlers of the same list, by operation id (utoipa's default: the handler's
        /// name).
        pub fn $table() -> Vec<(&'static str, $crate::routes::api::Handler)> {
            vec![$((stringify!($handler), |method| {
                actix_web::web::method(method).to($module::$handler)
            })),+]
        }
    };
}
pub(crate) use api;

/// The operations of `item` with their methods, in a fixed order.
pub fn operations(item: &PathItem) -> impl Iterator<Item = (Method, &Operation)> {
    [
        (Method::GET, &item.get),
        (Method::PUT, &item.put),
        (Method::POST, &item.post),
        (Method::DELETE, &item.delete),
        (Method::OPTIONS, &item.options),
        (Method::HEAD, &item.head),
        (Method::PATCH, &item.patch),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op.as_ref()?)))
}

/// A resource outside the description (a page, a script) answering only GET; any other
/// method gets the same JSON 405 as the API's paths.
pub fn get_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed("GET".to_owned()))
    }))
}

/// One path of the document, ready to register: its handlers and the methods it allows.
pub struct Resource {
    /// The path, in the template syntax actix and OpenAPI share (`/topics/{topic}/...`).
    pub path: String,
    routes: Vec<(Method, Handler)>,
    /// Methods joined for `Allow`, in the document's order.
    allow: String,
}

impl Resource {
    /// The actix resource: each method to its handler, any other to a JSON 405 with `Allow`.
    pub fn build(self) -> actix_web::Resource {
        let allow = self.allow;
        let mut resource = web::resource(self.path).default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow)) }
        }));
        for (method, handler) in self.routes {
            resource = resource.route(handler(method));
        }
        resource
    }
}

/// The resources of `doc`, each operation bound to the handler of `table` named by its
/// operation id.
///
/// # Panics
/// When an operation has no handler of that name: a programming error in an [`api!`] list,
/// caught by every test that starts the relay.
pub fn resources(doc: &OpenApi, table: &[(&'static str, Handler)]) -> Vec<Resource> {
    let handlers: BTreeMap<&str, Handler> = table.iter().copied().collect();
    doc.paths
        .paths
        .iter()
        .map(|(path, item)| {
            let routes: Vec<(Method, Handler)> = operations(item)
                .map(|(method, op)| {
                    let id = op.operation_id.as_deref().unwrap_or_default();
                    let handler = handlers
                        .get(id)
                        .copied()
                        .unwrap_or_else(|| panic!("{method} {path}: no handler named {id:?}"));
                    (method, handler)
                })
                .collect();
            let allow = routes
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Resource {
                path: path.clone(),
                routes,
                allow,
            }
        })
        .collect()
}
