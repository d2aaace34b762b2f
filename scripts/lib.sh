# Shared by ./run and ./test: progress messages and installing pinned tools.

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# The wasm32 target for the browser build.
ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        note "adding the wasm32-unknown-unknown target (one time)"
        rustup target add wasm32-unknown-unknown
    fi
}
