//! `notify-load`: SSE / long-poll load and latency benchmark for notify-relay and Nchan.

mod body;
mod cli;
mod conn;
mod http;
mod procstat;
mod publisher;
mod report;
mod run;
mod sse;
mod stats;
mod storm;
mod subscriber;

#[cfg(test)]
mod http_tests;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("notify-load: {e}");
        return std::process::ExitCode::from(2);
    }
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if (n as usize) < args.connections + 64 => {
            eprintln!("notify-load: warning: only {n} file descriptors available")
        }
        Ok(_) => {}
        Err(e) => eprintln!("notify-load: warning: cannot raise RLIMIT_NOFILE: {e}"),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notify-load: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run::run(&args)) {
        Ok(report) => {
            print!("{}", report.summary());
            println!("{}", report.json_line());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("notify-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
