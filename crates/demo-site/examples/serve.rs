//! Serves the demo site until killed, for benchmarks and experiments:
//! `cargo run --release -p crawlbox-demo-site --example serve -- [PORT] [PAGES]`
//! (default port 18090, 1000 pages). `/slow/{ms}` answers after `ms`
//! milliseconds: the latency mode of `bench/latency.sh`.

use std::net::SocketAddr;

use crawlbox_demo_site::{Site, SiteConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(18090, |p| p.parse().expect("PORT"));
    let pages: usize = args.next().map_or(1000, |p| p.parse().expect("PAGES"));
    let site = Site::start_on(
        SiteConfig {
            pages,
            ..SiteConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .expect("start the demo site");
    println!("serving {pages} pages at {}", site.base_url());
    loop {
        std::thread::park();
    }
}
