// The Lua scripts of the Redis ledger store (src/ledger/redis_ledger.h).
//
// Every script gets the key prefix as ARGV[1] and computes its key names from it (hence:
// standalone Redis only). Amounts, limits, counters and times travel and are stored as
// decimal strings; the scripts compare, add and subtract them as (high, low) pairs split at
// 10^9 (high < 2^35, low < 10^9, both exact in a Lua number, which is a double) and write
// the exact results back as strings. Lua numbers never hold a whole amount, and no value a
// command returns as a number (HINCRBY, INCRBY) is used. A script runs alone on the server,
// so read-compute-write inside one is atomic.
//
// Cost matters here (every Reserve and Settle is one script): each script reads all the
// counter cells it needs with one HMGET and writes them back with one HSET, because on this
// path every redis.call costs about a microsecond and every write is also propagated to the
// append-only file.
//
// Keys (P = prefix):
//   P"ver"      budgets version, bumped by every budget change
//   P"gen"      generation counter: a budget's counters restart under a new generation
//   P"budgets"  hash NAME -> "gen|period|encoded spec" (period 0 day, 1 week, 2 month, 3 total)
//   P"c"        every number the hot path touches, in one hash so a script reads them with
//               one HMGET and writes them with one HSET:
//                 "GEN:WINDOW_START:s" / ":r"  a budget window's spent / reserved. A budget's
//                   cells are deleted with it; a reservation's hold whose cell is gone
//                   belongs to a deleted or restarted budget and has nothing to release (a
//                   live hold's cell always exists: it holds >= the amount > 0, and pruning
//                   keeps non-zero cells).
//                 "total"                      all spend ever recorded
//                 "x:"ID                       expiry of a reservation in flight that expires
//                   (ExpireReservations scans these with HSCAN)
//   P"o:"ID     reservation  "R|amount|expires|budgets version|holds|attribution"
//                            holds = "gen:period:window_start;..."
//               settled      "S|reserved|actual|gen:period,..."  (with a TTL)
//   P"log", P"logidx"  the operations log (encoded records by id; index by start time)
//   P"vk:"ID    a virtual key: hash with fields h (secret hash), p (display prefix),
//               a (encoded attribution), b (budget name), d (description), c (created),
//               r (revoked, "0" while active)
//   P"vkh"      hash secret hash -> ID: the uniqueness of hashes, and FindVirtualKey
//   P"vkidx"    sorted set of "CREATED(16 hex)ID" members (lexicographic = oldest first)
//
// Thread safety: constants.
#ifndef GENOPS_LEDGER_REDIS_SCRIPTS_H_
#define GENOPS_LEDGER_REDIS_SCRIPTS_H_

namespace genops::ledger::redis {

// Shared helpers, prepended to every script.
inline constexpr char kPrelude[] = R"lua(
local P = ARGV[1]
local C = P .. 'c'
-- A non-negative or negative decimal integer string (|v| < 2^63) -> high, low.
local function split(s)
  if #s <= 15 then
    local v = tonumber(s)
    if v >= 0 then
      if v < 1000000000 then return 0, v end
      local h = math.floor(v / 1000000000)
      local l = v - h * 1000000000
      if l < 0 then return h - 1, l + 1000000000 end
      if l >= 1000000000 then return h + 1, l - 1000000000 end
      return h, l
    end
  end
  local neg = string.byte(s, 1) == 45
  if neg then s = string.sub(s, 2) end
  local n = #s
  local hi, lo
  if n <= 9 then
    hi, lo = 0, tonumber(s)
  else
    hi, lo = tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
  end
  if neg then return -hi, -lo end
  return hi, lo
end
local function cmp(ah, al, bh, bl)
  if ah ~= bh then return ah < bh and -1 or 1 end
  if al ~= bl then return al < bl and -1 or 1 end
  return 0
end
local function cmps(a, b)
  local ah, al = split(a)
  local bh, bl = split(b)
  return cmp(ah, al, bh, bl)
end
local function add(ah, al, bh, bl)
  local h, l = ah + bh, al + bl
  if l >= 1000000000 then h, l = h + 1, l - 1000000000 end
  return h, l
end
local function sub(ah, al, bh, bl)
  local h, l = ah - bh, al - bl
  if h > 0 and l < 0 then h, l = h - 1, l + 1000000000 end
  if h < 0 and l > 0 then h, l = h + 1, l - 1000000000 end
  return h, l
end
local function fmt(h, l)
  if h < 0 or (h == 0 and l < 0) then
    if h == 0 then return string.format('-%d', -l) end
    return string.format('-%d%09d', -h, -l)
  end
  if h == 0 then return string.format('%d', l) end
  return string.format('%d%09d', h, l)
end
local MAXH, MAXL = 9223372036, 854775807  -- int64 max
-- The field names of cells {gen = , w = }: spent, reserved, spent, reserved, ...
local function cell_fields(cells)
  local f = {}
  for i, c in ipairs(cells) do
    f[2 * i - 1] = c.gen .. ':' .. c.w .. ':s'
    f[2 * i] = c.gen .. ':' .. c.w .. ':r'
  end
  return f
end
-- Fills c.s and c.r (false when absent) of every cell with one HMGET.
local function read_cells(cells)
  if #cells == 0 then return end
  local v = redis.call('HMGET', C, unpack(cell_fields(cells)))
  for i, c in ipairs(cells) do
    c.s = v[2 * i - 1]
    c.r = v[2 * i]
  end
end
-- Writes the cells marked changed (c.ds, c.dr), and the field/value pairs in `extra`, with
-- one HSET.
local function write_cells(cells, extra)
  local f = extra or {}
  for _, c in ipairs(cells) do
    if c.ds then
      f[#f + 1] = c.gen .. ':' .. c.w .. ':s'
      f[#f + 1] = c.s
    end
    if c.dr then
      f[#f + 1] = c.gen .. ':' .. c.w .. ':r'
      f[#f + 1] = c.r
    end
  end
  if #f > 0 then redis.call('HSET', C, unpack(f)) end
end
local function hdel_all(key, fields)
  for i = 1, #fields, 1000 do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end
-- Deletes every counter cell of generation `gen`.
local function drop_gen(gen)
  local prefix = gen .. ':'
  local del = {}
  for _, f in ipairs(redis.call('HKEYS', C)) do
    if string.sub(f, 1, #prefix) == prefix then del[#del + 1] = f end
  end
  hdel_all(C, del)
end
local function reply_cells(out, cells)
  for _, c in ipairs(cells) do
    out[#out + 1] = c.gen
    out[#out + 1] = c.s or '0'
    out[#out + 1] = c.r or '0'
  end
  return out
end
local function settled_reply(rec, W)
  local res, act, gens = string.match(rec, '^S|([^|]*)|([^|]*)|(.*)$')
  local cells = {}
  for gen, p in string.gmatch(gens, '(%d+):(%d)') do
    cells[#cells + 1] = {gen = gen, w = W[tonumber(p) + 1]}
  end
  read_cells(cells)
  return reply_cells({'SETTLED', res, act}, cells)
end
local function parse_res(rec)
  local f = {}
  local pos = 3
  for i = 1, 4 do
    local bar = string.find(rec, '|', pos, true)
    f[i] = string.sub(rec, pos, bar - 1)
    pos = bar + 1
  end
  return f[1], f[2], f[3], f[4], string.sub(rec, pos)
end
-- Releases `amt` from a reservation's holds whose cells still exist.
local function undo(amt, holds)
  if amt == '0' then return end
  local cells = {}
  for gen, p, w in string.gmatch(holds, '(%d+):(%d):(%-?%d+)') do
    cells[#cells + 1] = {gen = gen, w = w}
  end
  read_cells(cells)
  local aH, aL = split(amt)
  for _, c in ipairs(cells) do
    if c.r then
      local rH, rL = split(c.r)
      c.r = fmt(sub(rH, rL, aH, aL))
      c.dr = true
    end
  end
  write_cells(cells)
end
-- Records `act` of spend into `targets` ({gen, period}) at windows W, releasing `amt` from
-- `holds` (a reservation's, or nil), then the settled record with its TTL. Checks for
-- overflow before writing anything. -> the settle reply
local function spend(okey, id, ttl, amt, holds, exp, act, targets, W)
  local cells, index = {}, {}
  local function cell(gen, w)
    local k = gen .. ':' .. w
    local c = index[k]
    if not c then
      c = {gen = gen, w = w}
      index[k] = c
      cells[#cells + 1] = c
    end
    return c
  end
  local tcells = {}
  for i, t in ipairs(targets) do tcells[i] = cell(t[1], W[t[2] + 1]) end
  local hcells = {}
  if holds and amt ~= '0' then
    for gen, p, w in string.gmatch(holds, '(%d+):(%d):(%-?%d+)') do
      hcells[#hcells + 1] = cell(gen, w)
    end
  end
  local v = redis.call('HMGET', C, 'total', unpack(cell_fields(cells)))
  for i, c in ipairs(cells) do
    c.s = v[2 * i]
    c.r = v[2 * i + 1]
  end
  if #hcells > 0 then
    local aH, aL = split(amt)
    for _, c in ipairs(hcells) do
      if c.r then
        local rH, rL = split(c.r)
        c.r = fmt(sub(rH, rL, aH, aL))
        c.dr = true
      end
    end
  end
  local new_total
  if act ~= '0' then
    local xH, xL = split(act)
    for _, c in ipairs(tcells) do
      local sH, sL = split(c.s or '0')
      local h, l = add(sH, sL, xH, xL)
      if cmp(h, l, MAXH, MAXL) > 0 then return {'OVERFLOW'} end
      c.s = fmt(h, l)
      c.ds = true
    end
    local tH, tL = split(v[1] or '0')
    local h, l = add(tH, tL, xH, xL)
    if cmp(h, l, MAXH, MAXL) > 0 then return {'OVERFLOW'} end
    new_total = fmt(h, l)
  end
  write_cells(cells, new_total and {'total', new_total} or nil)
  local gens = {}
  for i, t in ipairs(targets) do gens[i] = t[1] .. ':' .. t[2] end
  redis.call('SET', okey, 'S|' .. amt .. '|' .. act .. '|' .. table.concat(gens, ','), 'EX', ttl)
  if exp and exp ~= '0' then redis.call('HDEL', C, 'x:' .. id) end
  return reply_cells({'OK', amt, act}, tcells)
end
)lua";

// ARGV: P, version, id, amount, expires, W day, W week, W month, W total, attribution, n,
// then n x (gen, period, limit) in budget-name order.
// -> {'STALE'} | {'SETTLED', reserved, actual, (gen, s, r)*} |
//    {'OK'|'RESERVED'|'REFUSED', refused index, (gen, s, r)*}
inline constexpr char kReserve[] = R"lua(
local okey = P .. 'o:' .. ARGV[3]
local head = redis.call('MGET', P .. 'ver', okey)
local ver = head[1] or '0'
if ver ~= ARGV[2] then return {'STALE'} end
local W = {ARGV[6], ARGV[7], ARGV[8], ARGV[9]}
local rec = head[2]
if rec and string.byte(rec, 1) == 83 then return settled_reply(rec, W) end
local n = tonumber(ARGV[11])
local cells = {}
for i = 1, n do
  cells[i] = {gen = ARGV[9 + 3 * i], w = W[tonumber(ARGV[10 + 3 * i]) + 1]}
end
read_cells(cells)
if rec then return reply_cells({'RESERVED', ''}, cells) end
local amt = ARGV[4]
local aH, aL = split(amt)
for i = 1, n do
  local sH, sL = split(cells[i].s or '0')
  local rH, rL = split(cells[i].r or '0')
  local h, l = add(sH, sL, rH, rL)
  h, l = add(h, l, aH, aL)
  local mH, mL = split(ARGV[11 + 3 * i])
  if cmp(h, l, mH, mL) > 0 then return reply_cells({'REFUSED', tostring(i - 1)}, cells) end
end
local holds = {}
for i = 1, n do
  local c = cells[i]
  if amt ~= '0' then
    local rH, rL = split(c.r or '0')
    c.r = fmt(add(rH, rL, aH, aL))
    c.dr = true
  end
  holds[i] = c.gen .. ':' .. ARGV[10 + 3 * i] .. ':' .. c.w
end
write_cells(cells, ARGV[5] ~= '0' and {'x:' .. ARGV[3], ARGV[5]} or nil)
redis.call('SET', okey, 'R|' .. amt .. '|' .. ARGV[5] .. '|' .. ver .. '|' ..
           table.concat(holds, ';') .. '|' .. ARGV[10])
return reply_cells({'OK', ''}, cells)
)lua";

// ARGV: P, version, id, actual, W day, W week, W month, W total, ttl seconds, then '-' (spend
// into the reservation's budgets, valid while the budgets version is unchanged) or n followed
// by n x (gen, period).
// -> {'STALE'} | {'NOTFOUND'} | {'REMATCH', attribution} | {'OVERFLOW'} |
//    {'OK'|'SETTLED', reserved, actual, (gen, s, r)*}
inline constexpr char kSettle[] = R"lua(
local okey = P .. 'o:' .. ARGV[3]
local head = redis.call('MGET', P .. 'ver', okey)
local ver = head[1] or '0'
if ver ~= ARGV[2] then return {'STALE'} end
local W = {ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
local rec = head[2]
if not rec then return {'NOTFOUND'} end
if string.byte(rec, 1) == 83 then return settled_reply(rec, W) end
local amt, exp, rver, holds, attr = parse_res(rec)
local targets = {}
if ARGV[10] == '-' then
  if rver ~= ver then return {'REMATCH', attr} end
  for gen, p in string.gmatch(holds, '(%d+):(%d):%-?%d+') do
    targets[#targets + 1] = {gen, tonumber(p)}
  end
else
  for i = 0, tonumber(ARGV[10]) - 1 do
    targets[#targets + 1] = {ARGV[11 + 2 * i], tonumber(ARGV[12 + 2 * i])}
  end
end
return spend(okey, ARGV[3], ARGV[9], amt, holds, exp, ARGV[4], targets, W)
)lua";

// ARGV: P, version, id, actual, W day, W week, W month, W total, ttl seconds, n,
// n x (gen, period), then optionally the id of the reservation the spend was admitted from
// (ChargeItem::from_reservation): a new charge takes `actual` (down to zero) off it and off
// its holds, in the same script.
// -> {'STALE'} | {'HELD'} | {'OVERFLOW'} | {'OK'|'SETTLED', reserved, actual, (gen, s, r)*}
inline constexpr char kCharge[] = R"lua(
local okey = P .. 'o:' .. ARGV[3]
local head = redis.call('MGET', P .. 'ver', okey)
local ver = head[1] or '0'
if ver ~= ARGV[2] then return {'STALE'} end
local W = {ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
local rec = head[2]
if rec then
  if string.byte(rec, 1) == 83 then return settled_reply(rec, W) end
  return {'HELD'}
end
local targets = {}
local n = tonumber(ARGV[10])
for i = 0, n - 1 do
  targets[#targets + 1] = {ARGV[11 + 2 * i], tonumber(ARGV[12 + 2 * i])}
end
local reply = spend(okey, ARGV[3], ARGV[9], '0', nil, nil, ARGV[4], targets, W)
local from = ARGV[11 + 2 * n]
if from and from ~= '' and reply[1] == 'OK' then
  local rkey = P .. 'o:' .. from
  local res = redis.call('GET', rkey)
  if res and string.byte(res, 1) == 82 then
    local amt, exp, rver, holds, attr = parse_res(res)
    local off = ARGV[4]
    if cmps(off, amt) > 0 then off = amt end
    undo(off, holds)
    local aH, aL = split(amt)
    local oH, oL = split(off)
    redis.call('SET', rkey, 'R|' .. fmt(sub(aH, aL, oH, oL)) .. '|' .. exp .. '|' .. rver ..
               '|' .. holds .. '|' .. attr)
  end
end
return reply
)lua";

// ARGV: P, id. -> 1 when a reservation was released, else 0.
inline constexpr char kRelease[] = R"lua(
local okey = P .. 'o:' .. ARGV[2]
local rec = redis.call('GET', okey)
if not rec or string.byte(rec, 1) ~= 82 then return 0 end
local amt, exp, rver, holds = parse_res(rec)
undo(amt, holds)
redis.call('DEL', okey)
if exp ~= '0' then redis.call('HDEL', C, 'x:' .. ARGV[2]) end
return 1
)lua";

// ARGV: P, now, HSCAN cursor, count. Releases the reservations of one HSCAN step over the
// "x:"ID fields whose expiry is at or before `now` (exact comparison).
// -> {next cursor, released}
inline constexpr char kExpire[] = R"lua(
local step = redis.call('HSCAN', C, ARGV[3], 'MATCH', 'x:*', 'COUNT', tonumber(ARGV[4]))
local expired = 0
local pairs_ = step[2]
for i = 1, #pairs_, 2 do
  local field, exp = pairs_[i], pairs_[i + 1]
  if cmps(exp, ARGV[2]) <= 0 then
    local id = string.sub(field, 3)
    local okey = P .. 'o:' .. id
    local rec = redis.call('GET', okey)
    if rec and string.byte(rec, 1) == 82 then
      local amt, rexp, rver, holds = parse_res(rec)
      undo(amt, holds)
      redis.call('DEL', okey)
      expired = expired + 1
    end
    redis.call('HDEL', C, field)
  end
end
return {step[1], expired}
)lua";

// ARGV: P, W day, W week, W month, W total. Drops the cells of windows that ended and hold no
// reservation, and cells of generations no budget has (none are expected).
inline constexpr char kPrune[] = R"lua(
local W = {ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
local current = {}
local all = redis.call('HGETALL', P .. 'budgets')
for i = 2, #all, 2 do
  local gen, p = string.match(all[i], '^(%d+)|(%d)|')
  current[gen] = W[tonumber(p) + 1]
end
local windows = {}
for _, f in ipairs(redis.call('HKEYS', C)) do
  local gen, w = string.match(f, '^(%d+):(%-?%d+):')
  if gen then windows[gen .. ':' .. w] = {gen, w} end
end
local del = {}
for k, gw in pairs(windows) do
  local cur = current[gw[1]]
  local drop = not cur
  if cur and cmps(gw[2], cur) < 0 then
    local r = redis.call('HGET', C, k .. ':r')
    drop = (not r) or r == '0'
  end
  if drop then
    del[#del + 1] = k .. ':s'
    del[#del + 1] = k .. ':r'
  end
end
hdel_all(C, del)
return #del / 2
)lua";

// ARGV: P, name, period, encoded spec. -> 'OK' | 'SAME'
inline constexpr char kUpsertBudget[] = R"lua(
local bkey = P .. 'budgets'
local old = redis.call('HGET', bkey, ARGV[2])
local gen
if old then
  local og, op = string.match(old, '^(%d+)|(%d)|')
  if op == ARGV[3] then
    gen = og
    if string.sub(old, #og + 4) == ARGV[4] then return 'SAME' end
  else
    drop_gen(og)
  end
end
if not gen then gen = tostring(redis.call('INCR', P .. 'gen')) end
redis.call('HSET', bkey, ARGV[2], gen .. '|' .. ARGV[3] .. '|' .. ARGV[4])
redis.call('INCR', P .. 'ver')
return 'OK'
)lua";

// ARGV: P, name. -> 'OK' | 'NOTFOUND'
inline constexpr char kDeleteBudget[] = R"lua(
local bkey = P .. 'budgets'
local old = redis.call('HGET', bkey, ARGV[2])
if not old then return 'NOTFOUND' end
redis.call('HDEL', bkey, ARGV[2])
drop_gen(string.match(old, '^(%d+)|'))
redis.call('INCR', P .. 'ver')
return 'OK'
)lua";

// ARGV: P, W day, W week, W month, W total. -> {version, (name, spec, s, r)*}
inline constexpr char kListBudgets[] = R"lua(
local W = {ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
local all = redis.call('HGETALL', P .. 'budgets')
local cells = {}
for i = 1, #all, 2 do
  local gen, p = string.match(all[i + 1], '^(%d+)|(%d)|')
  cells[#cells + 1] = {gen = gen, w = W[tonumber(p) + 1], name = all[i], spec = all[i + 1]}
end
read_cells(cells)
local out = {redis.call('GET', P .. 'ver') or '0'}
for _, c in ipairs(cells) do
  out[#out + 1] = c.name
  out[#out + 1] = c.spec
  out[#out + 1] = c.s or '0'
  out[#out + 1] = c.r or '0'
end
return out
)lua";

// ARGV: P, n, n x (id, index member, encoded record). -> records added
inline constexpr char kAppendOperations[] = R"lua(
local added = 0
for i = 0, tonumber(ARGV[2]) - 1 do
  if redis.call('HSETNX', P .. 'log', ARGV[3 + 3 * i], ARGV[5 + 3 * i]) == 1 then
    redis.call('ZADD', P .. 'logidx', 0, ARGV[4 + 3 * i])
    added = added + 1
  end
end
return added
)lua";

// ARGV: P, lex max, lex min, count. -> {(member, encoded record)*}, newest first
inline constexpr char kScanOperations[] = R"lua(
local members = redis.call('ZREVRANGEBYLEX', P .. 'logidx', ARGV[2], ARGV[3], 'LIMIT', 0,
                           tonumber(ARGV[4]))
local out = {}
for i, m in ipairs(members) do
  out[2 * i - 1] = m
  out[2 * i] = redis.call('HGET', P .. 'log', string.sub(m, 17)) or ''
end
return out
)lua";

// ARGV: P, lex max (exclusive), count. -> records deleted
inline constexpr char kPurgeOperations[] = R"lua(
local members = redis.call('ZRANGEBYLEX', P .. 'logidx', '-', ARGV[2], 'LIMIT', 0,
                           tonumber(ARGV[3]))
for _, m in ipairs(members) do
  redis.call('HDEL', P .. 'log', string.sub(m, 17))
  redis.call('ZREM', P .. 'logidx', m)
end
return #members
)lua";

// ARGV: P, id, hash, display prefix, attribution, budget name, description, created, index
// member. Checks and writes in one script, so id and hash stay unique under any race.
// -> 'OK' | 'ID' (id taken) | 'HASH' (hash taken)
inline constexpr char kCreateVirtualKey[] = R"lua(
local k = P .. 'vk:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then return 'ID' end
if redis.call('HSETNX', P .. 'vkh', ARGV[3], ARGV[2]) == 0 then return 'HASH' end
redis.call('HSET', k, 'h', ARGV[3], 'p', ARGV[4], 'a', ARGV[5], 'b', ARGV[6], 'd', ARGV[7],
           'c', ARGV[8], 'r', '0')
redis.call('ZADD', P .. 'vkidx', 0, ARGV[9])
return 'OK'
)lua";

// ARGV: P, hash. -> {} | {id, h, p, a, b, d, c, r}
inline constexpr char kFindVirtualKey[] = R"lua(
local id = redis.call('HGET', P .. 'vkh', ARGV[2])
if not id then return {} end
local v = redis.call('HMGET', P .. 'vk:' .. id, 'h', 'p', 'a', 'b', 'd', 'c', 'r')
return {id, v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
)lua";

// ARGV: P, lex min, count. -> {(member, h, p, a, b, d, c, r)*}, oldest first
inline constexpr char kListVirtualKeys[] = R"lua(
local members = redis.call('ZRANGEBYLEX', P .. 'vkidx', ARGV[2], '+', 'LIMIT', 0,
                           tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(members) do
  local v = redis.call('HMGET', P .. 'vk:' .. string.sub(m, 17), 'h', 'p', 'a', 'b', 'd', 'c',
                       'r')
  out[#out + 1] = m
  for i = 1, 7 do out[#out + 1] = v[i] end
end
return out
)lua";

// ARGV: P, id, now. -> 'OK' | 'NOTFOUND'
inline constexpr char kRevokeVirtualKey[] = R"lua(
local k = P .. 'vk:' .. ARGV[2]
local r = redis.call('HGET', k, 'r')
if not r then return 'NOTFOUND' end
if r == '0' then redis.call('HSET', k, 'r', ARGV[3]) end
return 'OK'
)lua";

}  // namespace genops::ledger::redis

#endif  // GENOPS_LEDGER_REDIS_SCRIPTS_H_
