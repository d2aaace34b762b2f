use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = server_sender::Config::parse();
    match server_core::http::run_service(
        "sender",
        config.port,
        &config.common,
        server_sender::build_router,
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sender service: {}", chat_types::describe(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
