//! The Lambda binary is linked position-dependent (`-no-pie`). A position-independent
//! executable carries a relocation for every pointer in its constant data (vtables, string
//! tables, the serde field maps), 1.5 MB of them, which the loader applies at every cold start;
//! a fixed-address executable resolves them when it is linked. What it gives up: the
//! executable's own load address is not randomised (the shared libraries it loads still are).
//! For a Lambda sandbox that serves one function of one account, from a project without
//! `unsafe` code, that is a small trade for a 7% smaller artifact.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
