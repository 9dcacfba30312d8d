//! reev-init: the init of one namespaced session process (see `reev_sandbox::init`).
//! A program of its own so that it links neither DuckDB nor reev, and reev never runs
//! namespace set-up code in its own address space.

fn main() {
    reev_sandbox::init::main()
}
