use clap::Parser;
use notify_relay::{
    config::Settings,
    startup::{Application, run_mailer},
    telemetry,
};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    // `notify-relay mailer [flags]` runs only the mail worker, with the same flags and env.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mailer_only = args.get(1).is_some_and(|a| a == "mailer");
    if mailer_only {
        args.remove(1);
    }
    let settings = Settings::parse_from(args);
    telemetry::init(settings.log_format);
    if mailer_only {
        return match run_mailer(settings).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("notify-relay mailer: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
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
