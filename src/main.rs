use clap::Parser;
use notify_relay::{config::Settings, startup::Application, telemetry};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings = Settings::parse();
    telemetry::init(settings.log_format);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("notify-relay: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing::info!(port = app.port(), "notify-relay listening");
    match app.run_until_signal().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notify-relay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
