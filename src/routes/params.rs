//! The path parameters several routes share: each type reads its segment (through
//! [`super::path`], which undoes the escapes actix keeps) and describes it in the API
//! description, so what is parsed and what is described sit side by side.

use actix_web::HttpRequest;
use utoipa::IntoParams;

use super::path;
use crate::{
    error::ApiError,
    event::{Topic, UserId},
};

/// The `{user}` segment of a route on one user.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user id.
    #[param(pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$")]
    user: String,
}

impl UserPath {
    /// The user the request's path names.
    pub fn parse(req: &HttpRequest) -> Result<UserId, ApiError> {
        let segment = Self {
            user: path::param(req, "user"),
        };
        Ok(UserId::parse(&segment.user)?)
    }
}

/// The `{topic}` segment of a route on one topic.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TopicPath {
    /// The topic name.
    #[param(pattern = r"^[A-Za-z0-9:_.-]{1,128}$")]
    topic: String,
}

impl TopicPath {
    /// The topic the request's path names.
    pub fn parse(req: &HttpRequest) -> Result<Topic, ApiError> {
        let segment = Self {
            topic: path::param(req, "topic"),
        };
        Ok(Topic::parse(&segment.topic)?)
    }
}
