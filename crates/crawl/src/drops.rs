//! Follows a crawl drops rather than queues, counted by reason.

use crawlbox_frontier::{Caps, Push};
use crawlbox_runtime::escape_untrusted;

/// Follows a crawl dropped instead of queueing them, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedFollows {
    /// Past the per-page cap (`--max-follows-per-page`).
    pub over_page_cap: u64,
    /// `meta` over its cap (`--max-meta-size`).
    pub meta_too_large: u64,
    /// The queue held its most requests or bytes (`--max-queued`,
    /// `--max-queued-bytes`).
    pub queue_full: u64,
    /// The page limit could not use them (`--max-pages`): they would never
    /// have been fetched.
    pub beyond_max_pages: u64,
}

impl DroppedFollows {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.over_page_cap + self.meta_too_large + self.queue_full + self.beyond_max_pages
    }

    /// `over the per-page cap: N, ...`, the non-zero reasons only.
    pub fn describe(&self) -> String {
        [
            ("over the per-page cap", self.over_page_cap),
            ("meta too large", self.meta_too_large),
            ("queue full", self.queue_full),
            ("beyond --max-pages", self.beyond_max_pages),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(why, n)| format!("{why}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Counts dropped follows and warns about the first of each reason (the
/// summary has the counts): a crawl that drops millions logs a few lines.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    pub(crate) counts: DroppedFollows,
    warned_page_cap: bool,
    warned_meta: bool,
    warned_queue: bool,
}

impl Drops {
    /// `over` of a page's `yielded` follows were past the per-page cap.
    pub(crate) fn over_page_cap(
        &mut self,
        plugin: &str,
        page: &str,
        yielded: usize,
        over: usize,
        caps: Caps,
    ) {
        if over == 0 {
            return;
        }
        self.counts.over_page_cap += over as u64;
        if !std::mem::replace(&mut self.warned_page_cap, true) {
            tracing::warn!(
                target: "plugin",
                plugin,
                "parse {} yielded {yielded} follows, over the limit of {} a page \
                 (--max-follows-per-page): the last {over} were dropped (further drops \
                 are counted in the summary)",
                escape_untrusted(page),
                caps.max_follows_per_page
            );
        }
    }

    /// What the frontier made of a follow of `page` to `url`.
    pub(crate) fn pushed(&mut self, plugin: &str, page: &str, url: &str, push: &Push, caps: Caps) {
        let (page, url) = (escape_untrusted(page), escape_untrusted(url));
        match push {
            Push::PageLimit => self.counts.beyond_max_pages += 1,
            Push::MetaTooLarge(bytes) => {
                self.counts.meta_too_large += 1;
                if !std::mem::replace(&mut self.warned_meta, true) {
                    tracing::warn!(
                        target: "plugin",
                        plugin,
                        "dropped the follow of {page} to {url}: its meta is {bytes} bytes, \
                         over the limit of {} (--max-meta-size) (further drops are counted in \
                         the summary)",
                        caps.max_meta_bytes
                    );
                }
            }
            Push::QueueFull | Push::QueueBytesFull => {
                self.counts.queue_full += 1;
                if !std::mem::replace(&mut self.warned_queue, true) {
                    let cap = if *push == Push::QueueFull {
                        format!("{} requests (--max-queued)", caps.max_queued)
                    } else {
                        format!("{} bytes (--max-queued-bytes)", caps.max_queued_bytes)
                    };
                    tracing::warn!(
                        target: "plugin",
                        plugin,
                        "dropped the follow of {page} to {url}: the crawl's queue holds its \
                         limit of {cap}; follows are dropped until pages are taken from it \
                         (further drops are counted in the summary)"
                    );
                }
            }
            Push::Added | Push::Seen | Push::TooDeep => {}
        }
    }
}
