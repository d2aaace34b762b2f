use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = server_receiver::Config::parse();
    match server_core::http::run_service(
        "receiver",
        config.port,
        &config.common,
        server_receiver::build_router,
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("receiver service: {}", chat_types::describe(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
