//! reev-sandbox: placeholder while the init moves here.
