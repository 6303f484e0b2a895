//! The Lua scripts: each runs atomically in Redis.
//!
//! `ARGV[1]` is always the key prefix (`crawlbox:{crawl}:`); keys are built
//! from it inside the scripts (the set of priority streams is dynamic), so
//! the scripts need a standalone Redis (or one shard: every key of a crawl
//! has the same hash tag).

/// Helpers shared by the scripts.
const PRELUDE: &str = r#"
local GROUP = 'workers'

local function wake(p)
  redis.call('XADD', p .. 'wake', 'MAXLEN', '1', '*', 'w', '1')
end

-- Offers from argv[from..] in triples (fingerprint, priority, entry JSON):
-- 1 for each one queued, 0 for each one seen before.
local function push(p, argv, from)
  local out, added = {}, 0
  for i = from, #argv, 3 do
    local fp, pri, entry = argv[i], argv[i + 1], argv[i + 2]
    if redis.call('SADD', p .. 'seen', fp) == 1 then
      local q = p .. 'queue:' .. pri
      if redis.call('ZADD', p .. 'priorities', pri, pri) == 1 then
        local ok = redis.pcall('XGROUP', 'CREATE', q, GROUP, '0', 'MKSTREAM')
        if type(ok) == 'table' and ok.err and not string.find(ok.err, 'BUSYGROUP', 1, true) then
          error(ok.err)
        end
      end
      redis.call('XADD', q, '*', 'entry', entry)
      added = added + 1
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  if added > 0 then
    redis.call('HINCRBY', p .. 'stats', 'seen', added)
    wake(p)
  end
  return out
end

-- Whether the crawl is over: nothing pending, and nothing queued or the
-- page limit (max_pages, negative for none) reached.
local function finished(p, max_pages)
  local s = redis.call('HMGET', p .. 'stats', 'seen', 'started', 'done')
  local seen = tonumber(s[1] or '0')
  local started = tonumber(s[2] or '0')
  local done = tonumber(s[3] or '0')
  if started > done then
    return false
  end
  return seen <= started or (max_pages >= 0 and started >= max_pages)
end
"#;

/// `ARGV`: prefix, then offers in triples. Returns 1/0 per offer.
const PUSH: &str = r#"
return push(ARGV[1], ARGV, 2)
"#;

/// `ARGV`: prefix, consumer, max, max_pages (-1: none), reclaim_after (ms).
/// Returns `{ {{id, entry, deliveries, reclaimed}...}, wake id, finished }`.
const CLAIM: &str = r#"
local p, consumer = ARGV[1], ARGV[2]
local want = tonumber(ARGV[3])
local max_pages = tonumber(ARGV[4])
local min_idle = ARGV[5]
local out = {}
local pris = redis.call('ZREVRANGE', p .. 'priorities', 0, -1)

-- Pages of dead (or slow) consumers first: they were started already.
for _, pri in ipairs(pris) do
  if #out >= want then break end
  local q = p .. 'queue:' .. pri
  local cursor = '0-0'
  repeat
    local r = redis.call('XAUTOCLAIM', q, GROUP, consumer, min_idle, cursor,
      'COUNT', want - #out)
    cursor = r[1]
    for _, e in ipairs(r[2]) do
      if e and e[2] then
        local d = redis.call('XPENDING', q, GROUP, e[1], e[1], 1)
        local deliveries = 0
        if d[1] then deliveries = d[1][4] end
        out[#out + 1] = {e[1], e[2][2], deliveries, 1}
      end
    end
  until cursor == '0-0' or #out >= want
end

-- Then new pages, highest priority first, within the page limit.
local stats = p .. 'stats'
local started = tonumber(redis.call('HGET', stats, 'started') or '0')
local room = want - #out
if max_pages >= 0 then room = math.min(room, max_pages - started) end
local fresh = 0
for _, pri in ipairs(pris) do
  if fresh >= room then break end
  local r = redis.call('XREADGROUP', 'GROUP', GROUP, consumer,
    'COUNT', room - fresh, 'STREAMS', p .. 'queue:' .. pri, '>')
  if r and r[1] then
    for _, e in ipairs(r[1][2]) do
      out[#out + 1] = {e[1], e[2][2], 1, 0}
      fresh = fresh + 1
    end
  end
end
if fresh > 0 then redis.call('HINCRBY', stats, 'started', fresh) end

local last = redis.call('XREVRANGE', p .. 'wake', '+', '-', 'COUNT', 1)
local wake_id = '0-0'
if last[1] then wake_id = last[1][1] end
local over = 0
if #out == 0 and finished(p, max_pages) then over = 1 end
return {out, wake_id, over}
"#;

/// `ARGV`: prefix, fingerprint, priority, stream id, max_pages (-1: none),
/// error ('' for none), URL, item count n, n items, then follow-up offers in
/// triples. Returns `{duplicate (1/0), {1/0 per follow-up}}`.
const COMPLETE: &str = r#"
local p, fp, pri, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_pages = tonumber(ARGV[5])
local err, url = ARGV[6], ARGV[7]
local n = tonumber(ARGV[8])
local q = p .. 'queue:' .. pri
local stats = p .. 'stats'

if redis.call('SADD', p .. 'done', fp) == 0 then
  -- Committed before (by a consumer that had it earlier): nothing twice.
  redis.call('XACK', q, GROUP, id)
  redis.call('XDEL', q, id)
  redis.call('HINCRBY', stats, 'duplicates', 1)
  return {1, {}}
end

redis.call('HINCRBY', stats, 'done', 1)
if err ~= '' then
  redis.call('HINCRBY', stats, 'failed', 1)
  redis.call('XADD', p .. 'failures', 'MAXLEN', '~', '10000', '*',
    'fp', fp, 'url', url, 'error', err)
else
  for i = 9, 8 + n do
    redis.call('XADD', p .. 'items', '*', 'item', ARGV[i])
  end
  if n > 0 then redis.call('HINCRBY', stats, 'items', n) end
end
local pushed = push(p, ARGV, 9 + n)
redis.call('XACK', q, GROUP, id)
redis.call('XDEL', q, id)
if finished(p, max_pages) then wake(p) end
return {0, pushed}
"#;

/// `ARGV`: prefix, host, interval (µs). Returns `{wait µs, send time µs}`
/// (Redis's clock, since the Unix epoch).
const HOST_SLOT: &str = r#"
local key = ARGV[1] .. 'host:' .. ARGV[2]
local interval = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = math.max(now, tonumber(redis.call('GET', key) or '0'))
local nxt = at + interval
local ttl = math.floor((nxt - now) / 1000) + 1000
redis.call('SET', key, string.format('%d', nxt), 'PX', ttl)
return {at - now, at}
"#;

/// `KEYS`: the crawl's component key, then the key of the bytes.
/// `ARGV`: hash, bytes. Returns false when recorded (or already was), else
/// the hash the crawl already has.
const PUBLISH: &str = r#"
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return false
"#;

/// The scripts, compiled once per frontier.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub push: redis::Script,
    pub claim: redis::Script,
    pub complete: redis::Script,
    pub host_slot: redis::Script,
    pub publish: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let with_prelude = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        Self {
            push: with_prelude(PUSH),
            claim: with_prelude(CLAIM),
            complete: with_prelude(COMPLETE),
            host_slot: redis::Script::new(HOST_SLOT),
            publish: redis::Script::new(PUBLISH),
        }
    }
}
