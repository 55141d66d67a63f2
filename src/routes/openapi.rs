//! `GET /openapi.json`: serves the API description built at start-up (see [`super::describe`]).

use actix_web::{HttpResponse, web};

use super::describe::Description;

/// This description.
#[utoipa::path(get, path = "/openapi.json", tag = "operate",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub async fn openapi(description: web::Data<Description>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(description.json.clone())
}
