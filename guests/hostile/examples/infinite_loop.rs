//! Spins forever. Expected: stopped by the CPU limit (or the wall-clock limit).
use crawlbox_guest::{Plugin, Result};

struct InfiniteLoop;

impl Plugin for InfiniteLoop {
    fn run(_input: &str) -> Result<()> {
        hostile::before("infinite-loop")?;
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

crawlbox_guest::export_plugin!(InfiniteLoop);
