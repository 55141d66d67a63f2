//! The admin routes' description: the operations come from the handlers of [`super::AdminDoc`];
//! added here are the admin key's scheme and the refusals every keyed route shares.

use utoipa::OpenApi;

use super::AdminDoc;

/// The admin routes' description, with the admin key's scheme.
pub fn description() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let mut doc = AdminDoc::openapi();
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some("the --admin-key (NOTIFY_ADMIN_KEY)"))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("admin_key", SecurityScheme::Http(scheme));
    shared_refusals(&mut doc);
    doc
}

/// Every route that takes the admin key ([`Admin::check`], first) and reads the broker may
/// refuse the same two ways; they are described once here, on each operation with the key's
/// security requirement.
fn shared_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let refusal = |description: &str| {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        ResponseBuilder::new()
            .description(description)
            .content("application/json", body)
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.delete];
        for op in operations.into_iter().flatten() {
            if op.security.is_none() {
                continue;
            }
            let answers = &mut op.responses.responses;
            answers.insert(
                "401".into(),
                refusal("Missing or wrong admin key (`bad_admin_key`)").into(),
            );
            answers.insert(
                "503".into(),
                refusal("The broker is unreachable (`broker_unavailable`)").into(),
            );
        }
    }
}
