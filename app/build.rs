//! `cfg(browser)`: code for the browser build only. `hydrate` alone is not enough:
//! a workspace-wide build (clippy, tests) turns on `ssr` and `hydrate` together, and
//! then the server side wins.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(browser)");
    let hydrate = std::env::var_os("CARGO_FEATURE_HYDRATE").is_some();
    let ssr = std::env::var_os("CARGO_FEATURE_SSR").is_some();
    if hydrate && !ssr {
        println!("cargo::rustc-cfg=browser");
    }
}
