use clap::{CommandFactory, Parser, Subcommand, error::ContextKind};
use notify_relay::{
    config::Settings,
    startup::{Application, run_mailer},
    telemetry,
};

/// The command line: the relay with its settings, or `mailer` with the same settings.
#[derive(Parser)]
#[command(
    name = "notify-relay",
    version,
    args_override_self = true,
    args_conflicts_with_subcommands = true,
    about = "Pushes per-user notifications from Redis to browsers over SSE and long-poll"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Run>,
    #[command(flatten)]
    settings: Settings,
}

/// What to run instead of the whole relay.
#[derive(Subcommand)]
enum Run {
    /// Runs only the mail worker (due emails, the outbox, SMTP), with the relay's settings.
    Mailer(Settings),
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let (settings, mailer_only) = match Cli::try_parse() {
        Ok(Cli {
            command: Some(Run::Mailer(settings)),
            ..
        }) => (settings, true),
        Ok(Cli { settings, .. }) => (settings, false),
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
    let env = Cli::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()))
        .and_then(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()));
    eprint!("{}", e.render());
    if let Some(env) = env {
        eprintln!("(the setting is --{long} or the environment variable {env})");
    }
    std::process::exit(2);
}
