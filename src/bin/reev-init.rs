//! reev-init: placeholder.
fn main() {}
