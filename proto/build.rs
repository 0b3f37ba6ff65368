//! Compiles `proto/mpx/v1/*.proto` with protox (pure Rust, so no system `protoc` is needed),
//! writes the descriptor set for server reflection, and generates prost/tonic code.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/mpx/v1/common.proto",
        "proto/mpx/v1/exchange.proto",
        "proto/mpx/v1/records.proto",
        "proto/mpx/v1/cases.proto",
        "proto/mpx/v1/directory.proto",
        "proto/mpx/v1/alerts.proto",
        "proto/mpx/v1/compliance.proto",
        "proto/mpx/v1/index.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("mpx_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
