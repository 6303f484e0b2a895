//! Allocates without end. Expected: a trap at the memory limit.
use crawlbox_guest::{Plugin, Result};

struct MemoryBomb;

impl Plugin for MemoryBomb {
    fn run(_input: &str) -> Result<()> {
        hostile::before("memory-bomb")?;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

crawlbox_guest::export_plugin!(MemoryBomb);
