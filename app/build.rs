//! `cfg(browser)`: code for the browser build only. `hydrate` alone is not enough:
//! a workspace-wide build (clippy, tests) turns on `ssr` and `hydrate` together, and
//! then the server side wins.
//!
//! Also refuses to build without `--cfg erase_components`: the server and the browser
//! bundle must agree on it, or every page panics while hydrating.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(browser)");
    let hydrate = std::env::var_os("CARGO_FEATURE_HYDRATE").is_some();
    let ssr = std::env::var_os("CARGO_FEATURE_SSR").is_some();
    if hydrate && !ssr {
        println!("cargo::rustc-cfg=browser");
    }
    if std::env::var_os("CARGO_CFG_ERASE_COMPONENTS").is_none() {
        panic!(
            "build with `--cfg erase_components` (set in .cargo/config.toml; if you set \
             RUSTFLAGS, add it there): the server and the browser bundle must be built \
             with the same Leptos cfgs"
        );
    }
}
