//! Puts this board's `memory.x` and `device.x` on the linker's search path,
//! where cortex-m-rt's `link.x` includes them.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("writing memory.x");
    fs::write(out.join("device.x"), include_bytes!("device.x")).expect("writing device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=device.x");
    println!("cargo:rerun-if-changed=build.rs");
}
