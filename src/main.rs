//! reev: the thin binary over the library (`src/lib.rs`); everything happens in `reev::app`.

fn main() {
    reev::app::main()
}
