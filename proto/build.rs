//! Generates the tonic/prost code from `cairn.proto` with protox, a protobuf
//! compiler written in Rust, so that a fresh machine builds with cargo alone.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=cairn.proto");
    let descriptors = protox::compile(["cairn.proto"], ["."])?;
    tonic_prost_build::configure()
        // Data payloads stay `bytes::Bytes`: they move through the chain
        // without a copy.
        .bytes(".cairn.v1.WriteRequest.data")
        .bytes(".cairn.v1.ReadReply.data")
        .bytes(".cairn.v1.CopyPiece.data")
        .compile_fds(descriptors)?;
    Ok(())
}
