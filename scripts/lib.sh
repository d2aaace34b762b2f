# Shared by ./run and ./test: progress messages, installing the pinned build tools on
# a machine that has only rustup and cargo, and the one build of the site that ./run
# serves and the browser tests test.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
TOOLS_DIR="$REPO/.tools"
# What ./run serves: the server binary (profile `served`, see Cargo.toml) and this folder
# (the browser bundle in pkg/, the CSS, the static assets).
SITE_DIR="$TARGET_DIR/site"
CHAT_BIN="$TARGET_DIR/served/chat"
CARGO_LEPTOS_VERSION=0.3.6
BINARYEN_VERSION=132.0.0
WASM_OPT_CRATE_VERSION=0.116.1
# The wasm-split that matches the wasm_split_helpers leptos uses (Cargo.lock).
WASM_SPLIT_VERSION=0.2.3
# Tools we install come first: Debian's wasm-opt (binaryen 108) breaks the bundle.
# Two jobs: builds on a 2-core machine stay responsive.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export PATH="$TOOLS_DIR/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        note "adding the wasm32-unknown-unknown target (one time)"
        rustup target add wasm32-unknown-unknown
    fi
}

# wasm-bindgen's CLI must be exactly the version in Cargo.lock.
ensure_wasm_bindgen() {
    local version
    version=$(grep -A1 '^name = "wasm-bindgen"$' "$REPO/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')
    if wasm-bindgen --version 2>/dev/null | grep -q " $version"; then return; fi
    note "installing wasm-bindgen-cli $version (one time; a minute or two, beside the build)"
    # Not --locked: its lock file pins a crate version some registries no longer serve.
    # Optimised lightly: it runs for a second per build, and compiles in half the time.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install --quiet wasm-bindgen-cli --version "$version"
}

# wasm-split cuts the `#[lazy]` dialogs out of the bundle (cargo-leptos does the same
# with `--split`; it is built into cargo-leptos, here it is its own small tool).
ensure_wasm_split() {
    if cargo install --list | grep -q "^wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then return; fi
    note "installing wasm-split $WASM_SPLIT_VERSION (one time; a minute or two, beside the build)"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install --quiet --locked wasm_split_cli_support --version "$WASM_SPLIT_VERSION" \
        --features build-binary
}

# Release builds run wasm-opt. npm's binaryen is quick to install; without npm,
# the wasm-opt crate builds binaryen from source (needs a C++ compiler).
ensure_wasm_opt() {
    if "$TOOLS_DIR/node_modules/.bin/wasm-opt" --version >/dev/null 2>&1; then return; fi
    if command -v npm >/dev/null 2>&1; then
        note "installing binaryen $BINARYEN_VERSION (wasm-opt) into .tools/"
        mkdir -p "$TOOLS_DIR"
        npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" "binaryen@$BINARYEN_VERSION"
    elif ! wasm-opt --version 2>/dev/null | grep -q "version 116"; then
        note "installing wasm-opt $WASM_OPT_CRATE_VERSION (one time; about 8 minutes)"
        cargo install wasm-opt --version "$WASM_OPT_CRATE_VERSION" --locked
    fi
}


# Builds the site as `cargo leptos build --release` would, with cargo, wasm-bindgen and
# wasm-opt called directly (cargo-leptos itself takes longer to install than the whole
# build; it stays the tool for `cargo leptos watch` while developing). The server, the
# browser bundle and wasm-bindgen-cli build side by side: each has a long
# single-threaded tail, and together they keep both cores busy.
build_site() {
    local started=$SECONDS wasm="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"
    ensure_wasm_target
    ensure_wasm_opt
    if [ ! -x "$CHAT_BIN" ]; then
        note "first build: about 7 minutes on 2 cores (the server, the browser bundle and wasm-bindgen-cli side by side; 449 s measured on a fresh clone)"
    fi
    cargo build --quiet --profile served -p chat-stack --bin chat &
    local server=$!
    (ensure_wasm_bindgen && ensure_wasm_split) &
    local tools=$!
    local failed=0
    cargo build --quiet -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release || failed=1
    wait "$tools" || failed=1
    wait "$server" || failed=1
    if ((failed)); then return 1; fi
    note "compiled in $((SECONDS - started)) s; splitting, binding and shrinking the bundle (about 30 s)"
    rm -rf "$SITE_DIR"
    mkdir -p "$SITE_DIR/pkg"
    # The page's bundle (chat.wasm, before wasm-bindgen), the dialogs' pieces and the
    # script that loads them (__wasm_split.js, which chat.js imports).
    local split="$TARGET_DIR/wasm-split"
    rm -rf "$split"
    wasm-split-cli "$wasm" "$split" --target web --out-name chat
    wasm-bindgen --target web --no-typescript --keep-lld-exports --out-name chat \
        --out-dir "$SITE_DIR/pkg" "$split/chat.wasm"
    rm "$split/chat.wasm"
    mv "$split"/* "$SITE_DIR/pkg/"
    # The name leptos's hydration script loads when LEPTOS_OUTPUT_NAME is set.
    mv "$SITE_DIR/pkg/chat_bg.wasm" "$SITE_DIR/pkg/chat.wasm"
    # (binaryen does not know the name subsection wasm-split writes, and says so.)
    for file in "$SITE_DIR"/pkg/*.wasm; do
        wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int "$file" -o "$file" \
            2> >(grep -v '^warning: unknown name subsection' >&2)
    done
    cp "$REPO/style/main.css" "$SITE_DIR/pkg/chat.css"
    cp -r "$REPO/assets/." "$SITE_DIR/"
    # Compressed copies, served to browsers that accept them (a third of the size).
    for file in "$SITE_DIR"/pkg/*; do
        gzip -9 -k "$file"
        if command -v brotli >/dev/null 2>&1; then brotli -q 11 -k "$file"; fi
    done
    note "built in $((SECONDS - started)) s: $(bundle_kib chat.wasm chat.js __wasm_split.js) KiB of wasm and JS for a page, $(bundle_kib '*.wasm' '*.js') KiB with every dialog (gzip)"
}

# The gzipped size, in KiB, of the site's pkg/ files matching the patterns.
bundle_kib() {
    local files=()
    for pattern in "$@"; do files+=("$SITE_DIR"/pkg/$pattern.gz); done
    cat "${files[@]}" | wc -c | awk '{printf "%d", $1/1024}'
}

# Chromium for the browser tests: $CHROMIUM, or Debian's package.
find_chromium() {
    for candidate in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
}

ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }
