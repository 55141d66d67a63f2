use clap::{CommandFactory, Parser, error::ContextKind};
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
    let settings = match Settings::try_parse_from(args) {
        Ok(s) => s,
        Err(e) => exit_on_bad_setting(e),
    };
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

/// Prints clap's error (or help) and exits; a bad value is also named by its environment
/// variable, since that is where most deployments set it.
fn exit_on_bad_setting(e: clap::Error) -> ! {
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(arg)) => arg.clone(),
        _ => e.exit(),
    };
    let long = flag
        .trim_start_matches('-')
        .split([' ', '=', '<'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let env = Settings::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()))
        .and_then(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()));
    eprint!("{}", e.render());
    if let Some(env) = env {
        eprintln!("(the setting is --{long} or the environment variable {env})");
    }
    std::process::exit(2);
}
