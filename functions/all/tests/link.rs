//! How the Lambda binary is linked (see `build.rs`).

use std::io::Read;

/// A fixed-address executable (ELF type `ET_EXEC`), not a position-independent one (`ET_DYN`,
/// what Rust links on Linux by default): the 1.5 MB of load-time relocations stay out.
#[test]
#[cfg(target_os = "linux")]
fn the_lambda_binary_is_linked_position_dependent() {
    let mut header = [0u8; 18];
    std::fs::File::open(env!("CARGO_BIN_EXE_kairos-lambda"))
        .and_then(|mut f| f.read_exact(&mut header))
        .expect("the binary cargo built for this test");
    assert_eq!(&header[..4], b"\x7fELF");
    let little_endian = header[5] == 1;
    let e_type = if little_endian {
        u16::from_le_bytes([header[16], header[17]])
    } else {
        u16::from_be_bytes([header[16], header[17]])
    };
    assert_eq!(e_type, 2, "ELF type {e_type}: 2 is a fixed-address executable, 3 a position-independent one");
}
