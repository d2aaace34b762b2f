use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = server_user::Config::parse();
    match server_core::http::run_service(
        "user",
        config.port,
        &config.common,
        server_user::build_router,
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user service: {}", chat_types::describe(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
