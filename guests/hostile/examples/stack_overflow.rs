//! Recurses without end. Expected: a trap (call stack exhausted).
//! (Frames are kept small and in wasm locals; big frames would overflow
//! Rust's shadow stack in linear memory first, an out-of-bounds trap.)
use crawlbox_guest::{Plugin, Result};

struct StackOverflow;

fn deeper(n: u64) -> u64 {
    // Called through an opaque pointer so the compiler can neither inline
    // the recursion nor turn it into a loop.
    let next: fn(u64) -> u64 = std::hint::black_box(deeper);
    next(n + 1).wrapping_add(n)
}

impl Plugin for StackOverflow {
    fn run(_input: &str) -> Result<()> {
        hostile::before("stack-overflow")?;
        std::hint::black_box(deeper(0));
        Ok(())
    }
}

crawlbox_guest::export_plugin!(StackOverflow);
